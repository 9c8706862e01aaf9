// AVX-512 dot products of the K-quants with Q8_K activations. Per super-block, four rows share
// the activation loads (and any lane shuffles of them). Codes are unsigned (0..3, 0..7, 0..15,
// 0..31, 0..63); maddubs multiplies them with the int8 activations into int16 pairs and VNNI
// dpwssd applies the per-sub-block int16 scales into int32 lanes, so a super-block is reduced
// exactly in integers and scaled by one float FMA. Offsets (mins, Q3_K's -4, Q6_K's -32) come
// from the activation's bsums.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {

using namespace x86;

inline __m256i load256(const void * p) {
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}
inline __m512i load512(const void * p) {
    return _mm512_loadu_si512(p);
}
inline __m512i dup256(const void * p) {
    return _mm512_broadcast_i64x4(load256(p));
}
inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Index vector for vpermw: int16 lanes 8k..8k+7 take element s_k (one scale per 16 codes).
inline __m512i scale_idx(int s0, int s1, int s2, int s3) {
    const auto rep = [](int s) { return static_cast<long long>(0x0001000100010001ull * static_cast<uint64_t>(s)); };
    return _mm512_setr_epi64(rep(s0), rep(s0), rep(s1), rep(s1), rep(s2), rep(s2), rep(s3), rep(s3));
}

// sum over 64 codes of q * a, times the int16 scale of each lane pair, into 16 int32 lanes.
inline __m512i scaled_dot(__m512i isum, __m512i q, __m512i a, __m512i scales) {
    return _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q, a), scales);
}

inline __m512i spread(__m512i sc16, __m512i idx) {
    return _mm512_permutexvar_epi16(idx, sc16);
}

inline float finish(__m512 acc, __m256 accm) {
    return _mm512_reduce_add_ps(acc) + hsum_ps256(accm);
}

// ---- Q4_K / Q5_K ----
// 64 bytes of qs hold chunks 2cc and 2cc+1: low nibbles are sub-blocks 4cc and 4cc+2, high
// nibbles 4cc+1 and 4cc+3 (32 codes each), so the activations are regrouped to match.
struct act_q45 {
    __m512i lo[2], hi[2];
    __m256i bsums;
    float   d;
    explicit act_q45(const block_q8_K & y) {
        for (int cc = 0; cc < 2; ++cc) {
            const __m512i a0 = load512(y.qs + 128 * cc), a1 = load512(y.qs + 128 * cc + 64);
            lo[cc] = _mm512_shuffle_i64x2(a0, a1, 0x44);
            hi[cc] = _mm512_shuffle_i64x2(a0, a1, 0xEE);
        }
        bsums = load256(y.bsums);
        d     = y.d;
    }
};

template <bool has_qh>
inline void q45_k_block(__m512 & acc, __m256 & accm, const uint8_t * qs, const uint8_t * qh, const uint8_t * scales,
                        uint16_t d, uint16_t dmin, const act_q45 & a) {
    uint64_t sc64, m64;
    unpack_scales_k4_x86(scales, sc64, m64);
    const __m128i m8   = _mm_cvtsi64_si128(static_cast<long long>(m64));
    const __m128i mdup = _mm_shuffle_epi8(m8, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    const __m256i msum = _mm256_madd_epi16(_mm256_cvtepu8_epi16(mdup), a.bsums);
    const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc64))));
    const __m512i m4   = _mm512_set1_epi8(0x0F);
    __m512i       h    = _mm512_setzero_si512();
    if constexpr (has_qh) {
        h = dup256(qh);
    }
    __m512i isum = _mm512_setzero_si512();
    for (int cc = 0; cc < 2; ++cc) {
        const __m512i q  = load512(qs + 64 * cc);
        __m512i       lo = _mm512_and_si512(q, m4);
        __m512i       hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if constexpr (has_qh) {
            // Fifth bits: bit 2c of qh[l] for the low nibbles of chunk c, bit 2c+1 for the high.
            const int       c0 = 2 * cc, c1 = 2 * cc + 1;
            const __m512i   blo = join(_mm256_set1_epi8(static_cast<char>(1 << (2 * c0))),
                                       _mm256_set1_epi8(static_cast<char>(1 << (2 * c1))));
            const __m512i   bhi = join(_mm256_set1_epi8(static_cast<char>(1 << (2 * c0 + 1))),
                                       _mm256_set1_epi8(static_cast<char>(1 << (2 * c1 + 1))));
            const __mmask64 klo = _mm512_test_epi8_mask(h, blo), khi = _mm512_test_epi8_mask(h, bhi);
            lo = _mm512_mask_add_epi8(lo, klo, lo, _mm512_set1_epi8(0x10));
            hi = _mm512_mask_add_epi8(hi, khi, hi, _mm512_set1_epi8(0x10));
        }
        // 32-code sub-blocks: each scale covers two 8-lane groups.
        const int s = 4 * cc;
        isum        = scaled_dot(isum, lo, a.lo[cc], spread(sc16, scale_idx(s, s, s + 2, s + 2)));
        isum        = scaled_dot(isum, hi, a.hi[cc], spread(sc16, scale_idx(s + 1, s + 1, s + 3, s + 3)));
    }
    acc  = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(a.d * f16_to_f32_x86(d)), acc);
    accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-(a.d * f16_to_f32_x86(dmin))), accm);
}

template <typename block, bool has_qh, int R>
void rows_q45_k(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *  y = static_cast<const block_q8_K *>(act);
    const block * x[R];
    __m512        acc[R];
    __m256        accm[R];
    for (int r = 0; r < R; ++r) {
        x[r]    = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r]  = _mm512_setzero_ps();
        accm[r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const act_q45 a(y[b]);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block)>(x[r] + b, R * stride);
            const uint8_t * qh = nullptr;
            if constexpr (has_qh) {
                qh = x[r][b].qh;
            }
            q45_k_block<has_qh>(acc[r], accm[r], x[r][b].qs, qh, x[r][b].scales, x[r][b].d, x[r][b].dmin, a);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = finish(acc[r], accm[r]);
    }
}

// ---- Q6_K ----
// Half h of a super-block: 64 bytes of ql and 32 of qh give codes 0..63 for elements
// 128h + [0, 64) (low nibbles, qh bits 0-1 / 2-3) and 128h + [64, 128) (high nibbles, qh bits
// 4-5 / 6-7); both line up with contiguous activations.
template <int R>
void rows_q6_k(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *       y = static_cast<const block_q8_K *>(act);
    const block_q6_K * x[R];
    __m512             acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block_q6_K *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
    }
    const __m512i m4   = _mm512_set1_epi8(0x0F);
    const __m512i m30  = _mm512_set1_epi8(0x30);
    const __m512i sh_a = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);  // left: qh bits 0-1 / 2-3 -> 4-5
    const __m512i sh_b = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);  // right: bits 4-5 / 6-7 -> 4-5
    for (int64_t b = 0; b < n / QK_K; ++b) {
        __m512i a[4];
        for (int k = 0; k < 4; ++k) {
            a[k] = load512(y[b].qs + 64 * k);
        }
        const __m256i bsums = load256(y[b].bsums);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block_q6_K)>(x[r] + b, R * stride);
            const block_q6_K & xb   = x[r][b];
            const __m128i      sc8  = _mm_loadu_si128(reinterpret_cast<const __m128i *>(xb.scales));
            const __m256i      sc16 = _mm256_cvtepi8_epi16(sc8);
            const __m512i      scz  = _mm512_castsi256_si512(sc16);
            __m512i            isum = _mm512_setzero_si512();
            for (int h = 0; h < 2; ++h) {
                const __m512i l  = load512(xb.ql + 64 * h);
                const __m512i qh = dup256(xb.qh + 32 * h);
                const __m512i qa =
                    _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi64(qh, sh_a), m30));
                const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                                   _mm512_and_si512(_mm512_srlv_epi64(qh, sh_b), m30));
                const int     s  = 8 * h;
                isum             = scaled_dot(isum, qa, a[2 * h], spread(scz, scale_idx(s, s + 1, s + 2, s + 3)));
                isum = scaled_dot(isum, qb, a[2 * h + 1], spread(scz, scale_idx(s + 4, s + 5, s + 6, s + 7)));
            }
            // The codes are q + 32: take 32 * sum_sub sc * bsum back out (exact, in int32).
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums), 5);
            isum               = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(y[b].d * f16_to_f32_x86(xb.d)), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

// ---- Q2_K / Q3_K ----
// The 64 bytes of qs shifted by 2j give, in the low 32 bytes, elements 32j + [0, 32) and in
// the high 32 bytes elements 128 + 32j + [0, 32): sub-blocks 2j, 2j+1, 8+2j, 9+2j.
struct act_q23 {
    __m512i a[4];
    __m256i bsums;
    float   d;
    explicit act_q23(const block_q8_K & y) {
        for (int j = 0; j < 4; ++j) {
            a[j] = join(load256(y.qs + 32 * j), load256(y.qs + 128 + 32 * j));
        }
        bsums = load256(y.bsums);
        d     = y.d;
    }
};

template <int R>
void rows_q2_k(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *       y = static_cast<const block_q8_K *>(act);
    const block_q2_K * x[R];
    __m512             acc[R];
    __m256             accm[R];
    for (int r = 0; r < R; ++r) {
        x[r]    = reinterpret_cast<const block_q2_K *>(row_ptr(w, stride, r));
        acc[r]  = _mm512_setzero_ps();
        accm[r] = _mm256_setzero_ps();
    }
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const act_q23 a(y[b]);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block_q2_K)>(x[r] + b, R * stride);
            const block_q2_K & xb  = x[r][b];
            const __m128i      sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(xb.scales));
            const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(0x0F))));
            const __m256i m16  = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
            const __m512i q    = load512(xb.qs);
            __m512i       isum = _mm512_setzero_si512();
            for (int j = 0; j < 4; ++j) {
                const __m512i qj = _mm512_and_si512(_mm512_srli_epi16(q, 2 * j), m3);
                isum = scaled_dot(isum, qj, a.a[j], spread(sc16, scale_idx(2 * j, 2 * j + 1, 8 + 2 * j, 9 + 2 * j)));
            }
            const __m256i msum = _mm256_madd_epi16(m16, a.bsums);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(a.d * f16_to_f32_x86(xb.d)), acc[r]);
            accm[r] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-(a.d * f16_to_f32_x86(xb.dmin))), accm[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = finish(acc[r], accm[r]);
    }
}

template <int R>
void rows_q3_k(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *       y = static_cast<const block_q8_K *>(act);
    const block_q3_K * x[R];
    __m512             acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block_q3_K *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
    }
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const act_q23 a(y[b]);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block_q3_K)>(x[r] + b, R * stride);
            const block_q3_K & xb   = x[r][b];
            const __m128i      sc8  = _mm_sub_epi8(unpack_scales_q3_k_x86(xb.scales), _mm_set1_epi8(32));
            const __m256i      sc16 = _mm256_cvtepi8_epi16(sc8);
            const __m512i      scz  = _mm512_castsi256_si512(sc16);
            const __m512i      q    = load512(xb.qs);
            const __m512i      hm   = dup256(xb.hmask);
            __m512i            isum = _mm512_setzero_si512();
            for (int j = 0; j < 4; ++j) {
                // Codes + 4 (0..7): hmask bit j (first half) or 4+j (second) set means "no -4".
                const __m512i   bits = join(_mm256_set1_epi8(static_cast<char>(1 << j)),
                                            _mm256_set1_epi8(static_cast<char>(1 << (4 + j))));
                const __mmask64 k    = _mm512_test_epi8_mask(hm, bits);
                __m512i         qj   = _mm512_and_si512(_mm512_srli_epi16(q, 2 * j), m3);
                qj                   = _mm512_mask_add_epi8(qj, k, qj, _mm512_set1_epi8(4));
                isum = scaled_dot(isum, qj, a.a[j], spread(scz, scale_idx(2 * j, 2 * j + 1, 8 + 2 * j, 9 + 2 * j)));
            }
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, a.bsums), 2);
            isum               = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(a.d * f16_to_f32_x86(xb.d)), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

template <int R>
void run_q4_k(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
    rows_q45_k<block_q4_K, false, R>(n, w, s, a, o);
}
template <int R>
void run_q5_k(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
    rows_q45_k<block_q5_K, true, R>(n, w, s, a, o);
}

}  // namespace

void dot_q2_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<rows_q2_k<k_row_group>, rows_q2_k<1>>(n, w, s, r, a, o);
}
void dot_q3_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<rows_q3_k<k_row_group>, rows_q3_k<1>>(n, w, s, r, a, o);
}
void dot_q4_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<run_q4_k<k_row_group>, run_q4_k<1>>(n, w, s, r, a, o);
}
void dot_q5_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<run_q5_k<k_row_group>, run_q5_k<1>>(n, w, s, r, a, o);
}
void dot_q6_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<rows_q6_k<k_row_group>, rows_q6_k<1>>(n, w, s, r, a, o);
}

}  // namespace sluice::kern
#endif
