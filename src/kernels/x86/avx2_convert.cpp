// F32 -> F16 rows with F16C (vcvtps2ph, round to nearest even: the scalar f32_to_f16's bits).
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

namespace sluice::kern {

void to_f16_avx2(const float * x, uint16_t * y, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + j), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + j), h);
    }
    for (; j < n; ++j) {
        y[j] = x86::f32_to_f16_x86(x[j]);
    }
}

}  // namespace sluice::kern
#endif
