// AVX2 + FMA + F16C weighted row sums. Accumulates in registers across rows, 8 floats at a
// time; each output element sees the rows in order, like the reference, but with fused
// multiply-adds (one rounding per step instead of two).
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

#include <algorithm>

namespace sluice::kern {

void weighted_row_sum_avx2(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                           float * out) {
    const auto * base = static_cast<const uint8_t *>(rows);
    for (int64_t i0 = 0; i0 < n; i0 += 32) {
        const int64_t width  = std::min<int64_t>(32, n - i0);  // a multiple of 8
        __m256        acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t j = 0; j < n_rows; ++j) {
            const __m256 wj = _mm256_set1_ps(w[j]);
            if (t == ggml_type::F32) {
                const auto * r = reinterpret_cast<const float *>(base + j * stride) + i0;
                for (int64_t k = 0; k < width / 8; ++k) {
                    acc[k] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(r + 8 * k), acc[k]);
                }
            } else {
                const auto * r = reinterpret_cast<const uint16_t *>(base + j * stride) + i0;
                for (int64_t k = 0; k < width / 8; ++k) {
                    const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(r + 8 * k)));
                    acc[k]         = _mm256_fmadd_ps(wj, v, acc[k]);
                }
            }
        }
        for (int64_t k = 0; k < width / 8; ++k) {
            _mm256_storeu_ps(out + i0 + 8 * k, acc[k]);
        }
    }
}

}  // namespace sluice::kern
#endif
