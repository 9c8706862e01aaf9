// AVX2 activation quantization (also used by the AVX-512 table). Produces exactly the bytes
// of the scalar versions in ref_act.cpp: same amax, same d = amax / 127 and id = 1 / d, same
// product x * id, and cvtps2dq rounds half to even like nearbyint in the default mode.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

#include <cstring>

namespace sluice::kern {
namespace {

inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m        = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m        = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline int hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s         = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s         = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

inline __m256 abs8(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

// Max |x| over n (a multiple of 32) values.
inline float amax_of(const float * x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + j)));
    }
    return hmax8(m);
}

// Quantizes 32 values with the inverse scale id into q[32]; returns the sum of the codes.
inline int quantize32(const float * x, __m256 id, int8_t * q) {
    const __m256i i0  = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 0), id));
    const __m256i i1  = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    const __m256i i2  = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    const __m256i i3  = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    const int     sum = hsum8_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    // packs works within 128-bit lanes; the dword permute restores element order.
    const __m256i p01 = _mm256_packs_epi32(i0, i1);
    const __m256i p23 = _mm256_packs_epi32(i2, i3);
    __m256i       b   = _mm256_packs_epi16(p01, p23);
    b                 = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(q), b);
    return sum;
}

inline float inverse(float d) {
    return d != 0.0f ? 1.0f / d : 0.0f;
}

}  // namespace

void quantize_act_q8_0_avx2(const float * x, void * dst, int64_t n) {
    auto * y = static_cast<block_q8_0 *>(dst);
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        const float * xb = x + b * QK8_0;
        const float   d  = amax_of(xb, QK8_0) / 127.0f;
        quantize32(xb, _mm256_set1_ps(inverse(d)), y[b].qs);
        y[b].d = x86::f32_to_f16_x86(d);
    }
}

void quantize_act_q8_1_avx2(const float * x, void * dst, int64_t n) {
    auto * y = static_cast<block_q8_1 *>(dst);
    for (int64_t b = 0; b < n / QK8_1; ++b) {
        const float * xb  = x + b * QK8_1;
        const float   d   = amax_of(xb, QK8_1) / 127.0f;
        const int     sum = quantize32(xb, _mm256_set1_ps(inverse(d)), y[b].qs);
        y[b].d            = x86::f32_to_f16_x86(d);
        y[b].s            = x86::f32_to_f16_x86(d * static_cast<float>(sum));
    }
}

void quantize_act_q8_k_avx2(const float * x, void * dst, int64_t n) {
    auto * y = static_cast<block_q8_K *>(dst);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const float * xb = x + b * QK_K;
        const float   d  = amax_of(xb, QK_K) / 127.0f;
        const __m256  id = _mm256_set1_ps(inverse(d));
        for (int g = 0; g < QK_K / 32; ++g) {
            quantize32(xb + 32 * g, id, y[b].qs + 32 * g);
            // Sums of each 16 codes: offset to unsigned, sad against zero sums 8 bytes at a time.
            const __m256i q   = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs + 32 * g));
            const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8(-128)), _mm256_setzero_si256());
            alignas(32) uint64_t s[4];
            _mm256_store_si256(reinterpret_cast<__m256i *>(s), sad);
            y[b].bsums[2 * g]     = static_cast<int16_t>(static_cast<int>(s[0] + s[1]) - 16 * 128);
            y[b].bsums[2 * g + 1] = static_cast<int16_t>(static_cast<int>(s[2] + s[3]) - 16 * 128);
        }
        y[b].d = d;
    }
}

}  // namespace sluice::kern
#endif
