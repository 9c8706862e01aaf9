// AVX2 dot products of the K-quants with Q8_K activations. Per super-block and row the codes
// (all unsigned here: 0..3, 0..7, 0..15, 0..31, 0..63) meet the activations in maddubs, the
// per-sub-block scales are applied by madd_epi16 into int32 lanes, and the offsets (mins,
// Q3_K's -4, Q6_K's -32) come from the activation's bsums. One float FMA per super-block.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {

using namespace x86;

// Scale vector for 32 codes spanning two 16-element sub-blocks: s0 on lanes 0..7, s1 on 8..15.
inline __m256i scale_pair(int s0, int s1) {
    return _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(s0)), _mm_set1_epi16(static_cast<int16_t>(s1)));
}

// sum over the 32 codes q of q * a, weighted by the pair of sub-block scales: 8 int32 lanes.
inline __m256i scaled_dot(__m256i q, const int8_t * a, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, load256(a)), scales);
}

inline __m256i bsums_of(const block_q8_K & y) {
    return load256(y.bsums);
}

inline float finish(__m256 acc) {
    return hsum_ps256(acc);
}

// acc += (da * d) * isum + (da * dmin_neg) * msum, both int32 vectors of 8 lanes.
inline __m256 accumulate(__m256 acc, __m256i isum, float dd, __m256i msum, float dm) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dd), acc);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dm), acc);
}

float row_q2_k(int64_t nb, const block_q2_K * x, const block_q8_K * y) {
    const __m256i m3  = _mm256_set1_epi8(3);
    __m256        acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const __m128i sc8  = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x[b].scales));
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_srli_epi16(_mm_and_si128(sc8, _mm_set1_epi8(-16)), 4));
        __m256i       isum = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i q = load256(x[b].qs + 32 * half);
            for (int j = 0; j < 4; ++j) {
                const int     s  = 8 * half + 2 * j;
                const __m256i qj = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                const __m256i sp = scale_pair(x[b].scales[s] & 0xF, x[b].scales[s + 1] & 0xF);
                isum             = _mm256_add_epi32(isum, scaled_dot(qj, y[b].qs + 128 * half + 32 * j, sp));
            }
        }
        const __m256i msum = _mm256_madd_epi16(mins, bsums_of(y[b]));
        acc = accumulate(acc, isum, y[b].d * f16_to_f32_x86(x[b].d), msum, -(y[b].d * f16_to_f32_x86(x[b].dmin)));
    }
    return finish(acc);
}

float row_q3_k(int64_t nb, const block_q3_K * x, const block_q8_K * y) {
    const __m256i m3  = _mm256_set1_epi8(3);
    __m256        acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        alignas(16) int8_t sc[16];
        _mm_store_si128(reinterpret_cast<__m128i *>(sc),
                        _mm_sub_epi8(unpack_scales_q3_k_x86(x[b].scales), _mm_set1_epi8(32)));
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i *>(sc)));
        const __m256i hm   = load256(x[b].hmask);
        __m256i       isum = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i q = load256(x[b].qs + 32 * half);
            for (int j = 0; j < 4; ++j) {
                const int s = 8 * half + 2 * j;
                // Codes + 4 (0..7): the high bit set means "no -4"; the -4 returns via bsums.
                const __m256i qj = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3),
                                                   bit_to(hm, 1 << (4 * half + j), 4));
                isum =
                    _mm256_add_epi32(isum, scaled_dot(qj, y[b].qs + 128 * half + 32 * j, scale_pair(sc[s], sc[s + 1])));
            }
        }
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums_of(y[b])), 2);
        isum               = _mm256_sub_epi32(isum, corr);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(y[b].d * f16_to_f32_x86(x[b].d)), acc);
    }
    return finish(acc);
}

// Q4_K and Q5_K share everything but the fifth bit (qh == nullptr for Q4_K).
inline __m256 q45_k_block(__m256 acc, const uint8_t * qs, const uint8_t * qh, const uint8_t * scales, uint16_t d,
                          uint16_t dmin, const block_q8_K & y) {
    uint64_t sc64, m64;
    unpack_scales_k4_x86(scales, sc64, m64);
    alignas(8) uint8_t sc[8];
    std::memcpy(sc, &sc64, 8);
    // Each min covers 32 codes = two bsums: duplicate it so madd pairs it with both.
    const __m128i m8   = _mm_cvtsi64_si128(static_cast<long long>(m64));
    const __m128i mdup = _mm_shuffle_epi8(m8, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    const __m256i msum = _mm256_madd_epi16(_mm256_cvtepu8_epi16(mdup), bsums_of(y));

    const __m256i m4   = _mm256_set1_epi8(0x0F);
    const __m256i h    = qh != nullptr ? load256(qh) : _mm256_setzero_si256();
    __m256i       isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
        const __m256i q  = load256(qs + 32 * c);
        __m256i       lo = _mm256_and_si256(q, m4);
        __m256i       hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh != nullptr) {
            lo = _mm256_or_si256(lo, bit_to(h, 1 << (2 * c), 16));
            hi = _mm256_or_si256(hi, bit_to(h, 1 << (2 * c + 1), 16));
        }
        const __m256i plo = scaled_dot(lo, y.qs + 64 * c, _mm256_set1_epi16(sc[2 * c]));
        const __m256i phi = scaled_dot(hi, y.qs + 64 * c + 32, _mm256_set1_epi16(sc[2 * c + 1]));
        isum              = _mm256_add_epi32(isum, _mm256_add_epi32(plo, phi));
    }
    return accumulate(acc, isum, y.d * f16_to_f32_x86(d), msum, -(y.d * f16_to_f32_x86(dmin)));
}

float row_q4_k(int64_t nb, const block_q4_K * x, const block_q8_K * y) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        acc = q45_k_block(acc, x[b].qs, nullptr, x[b].scales, x[b].d, x[b].dmin, y[b]);
    }
    return finish(acc);
}

float row_q5_k(int64_t nb, const block_q5_K * x, const block_q8_K * y) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        acc = q45_k_block(acc, x[b].qs, x[b].qh, x[b].scales, x[b].d, x[b].dmin, y[b]);
    }
    return finish(acc);
}

float row_q6_k(int64_t nb, const block_q6_K * x, const block_q8_K * y) {
    const __m256i m4  = _mm256_set1_epi8(0x0F);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    __m256        acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const int8_t * sc   = x[b].scales;
        const __m256i  sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sc)));
        __m256i        isum = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i l0 = load256(x[b].ql + 64 * half);
            const __m256i l1 = load256(x[b].ql + 64 * half + 32);
            const __m256i h  = load256(x[b].qh + 32 * half);
            // Codes 0..63 of the four 32-element quarters of this half (k = 0..3).
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(h, 2), m30)),
            };
            for (int k = 0; k < 4; ++k) {
                const int s = 8 * half + 2 * k;
                isum        = _mm256_add_epi32(isum,
                                               scaled_dot(q[k], y[b].qs + 128 * half + 32 * k, scale_pair(sc[s], sc[s + 1])));
            }
        }
        // The codes are q + 32: take 32 * sum_sub sc * bsum back out.
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums_of(y[b])), 5));
        acc  = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(y[b].d * f16_to_f32_x86(x[b].d)), acc);
    }
    return finish(acc);
}

template <typename block, float (*row)(int64_t, const block *, const block_q8_K *)>
void rows_k(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    const auto * y = static_cast<const block_q8_K *>(act);
    for (int64_t r = 0; r < n_rows; ++r) {
        out[r] = row(n / QK_K, reinterpret_cast<const block *>(row_ptr(w, stride, r)), y);
    }
}

}  // namespace

void dot_q2_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    rows_k<block_q2_K, row_q2_k>(n, w, s, r, a, o);
}
void dot_q3_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    rows_k<block_q3_K, row_q3_k>(n, w, s, r, a, o);
}
void dot_q4_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    rows_k<block_q4_K, row_q4_k>(n, w, s, r, a, o);
}
void dot_q5_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    rows_k<block_q5_K, row_q5_k>(n, w, s, r, a, o);
}
void dot_q6_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    rows_k<block_q6_K, row_q6_k>(n, w, s, r, a, o);
}

}  // namespace sluice::kern
#endif
