#include "kernels/kernels_impl.h"
#include "util/error.h"
#include "util/half.h"

#include <algorithm>

namespace sluice {
namespace kern {

void weighted_row_sum_ref(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                          float * out) {
    std::fill(out, out + n, 0.0f);
    const auto * base = static_cast<const uint8_t *>(rows);
    for (int64_t j = 0; j < n_rows; ++j) {
        if (t == ggml_type::F32) {
            const auto * r = reinterpret_cast<const float *>(base + j * stride);
            for (int64_t i = 0; i < n; ++i) {
                out[i] += w[j] * r[i];
            }
        } else {
            const auto * r = reinterpret_cast<const uint16_t *>(base + j * stride);
            for (int64_t i = 0; i < n; ++i) {
                out[i] += w[j] * f16_to_f32(r[i]);
            }
        }
    }
}

}  // namespace kern

void weighted_row_sum(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                      float * out, isa i) {
    if (t != ggml_type::F32 && t != ggml_type::F16) {
        fail("weighted_row_sum: rows of {} are not supported (f32, f16)", type_name(t));
    }
#if defined(__x86_64__) || defined(__i386__)
    if (i != isa::SCALAR && n % 8 == 0) {
        kern::weighted_row_sum_avx2(t, rows, stride, n_rows, w, n, out);
        return;
    }
#endif
    kern::weighted_row_sum_ref(t, rows, stride, n_rows, w, n, out);
}

}  // namespace sluice
