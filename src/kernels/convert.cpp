// F32 -> F16 rows (kernels.h: to_f16): the scalar conversion and the dispatch to F16C.
#include "kernels/kernels_impl.h"
#include "util/half.h"

namespace sluice {

void to_f16(const float * x, uint16_t * y, int64_t n, isa i) {
#if defined(__x86_64__) || defined(__i386__)
    if (i != isa::SCALAR) {
        kern::to_f16_avx2(x, y, n);
        return;
    }
#endif
    (void)i;
    for (int64_t j = 0; j < n; ++j) {
        y[j] = f32_to_f16(x[j]);
    }
}

}  // namespace sluice
