// AVX-512 decodes of one K-quant super-block in registers, for the one-token kernels: Q4_K /
// Q5_K (q45_block, with the activations regrouped by act_q45 and q45_isum) and Q6_K (q6_block),
// whose 16-lane integer sums the row-lanes kernels reduce per row (avx512_row_lanes.h), and the
// helpers the Q2_K / Q3_K kernels share (avx512_dot_k.cpp).
//
// Everything lives in an unnamed namespace: each including file, all compiled with the AVX-512
// flags, gets its own copy.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {
namespace kblocks {

using namespace x86;

inline __m256i ld256(const void * p) {
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}
inline __m512i ld512(const void * p) {
    return _mm512_loadu_si512(p);
}
inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
inline __m512i dup256(const void * p) {
    return _mm512_broadcast_i64x4(ld256(p));
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

// ---- Q4_K / Q5_K ----
// 64 bytes of qs hold chunks 2cc and 2cc+1: low nibbles are sub-blocks 4cc and 4cc+2, high
// nibbles 4cc+1 and 4cc+3 (32 codes each), so the activations are regrouped to match.
struct act_q45 {
    __m512i lo[2], hi[2];
    __m256i bsums;
    float   d;
    void    load(const block_q8_K & y) {
           for (int cc = 0; cc < 2; ++cc) {
               const __m512i a0 = ld512(y.qs + 128 * cc), a1 = ld512(y.qs + 128 * cc + 64);
               lo[cc] = _mm512_shuffle_i64x2(a0, a1, 0x44);
               hi[cc] = _mm512_shuffle_i64x2(a0, a1, 0xEE);
        }
           bsums = ld256(y.bsums);
           d     = y.d;
    }
};

// sum over the 256 codes of a Q4_K / Q5_K super-block (q, int16 scales sc: q45_block) times
// one token's activations, in 16 int32 lanes.
inline __m512i q45_isum(const __m512i * q, const __m512i * sc, const act_q45 & a) {
    __m512i isum = _mm512_setzero_si512();
    isum         = scaled_dot(isum, q[0], a.lo[0], sc[0]);
    isum         = scaled_dot(isum, q[1], a.hi[0], sc[1]);
    isum         = scaled_dot(isum, q[2], a.lo[1], sc[2]);
    return scaled_dot(isum, q[3], a.hi[1], sc[3]);
}

// One Q4_K / Q5_K super-block decoded: the eight mins, each
// twice (int16, lanes matching the activation's 16 bsums), and the codes of the four 64-code
// groups (lo0, hi0, lo1, hi1) with the int16 scale of each lane pair.
template <bool has_qh>
struct q45_block {
    __m256i mins;
    __m512i q[4], sc[4];
    template <typename block>
    explicit q45_block(const block & xb) {
        uint64_t sc64, m64;
        unpack_scales_k4_x86(xb.scales, sc64, m64);
        const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(m64));
        mins =
            _mm256_cvtepu8_epi16(_mm_shuffle_epi8(m8, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)));
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc64))));
        const __m512i m4   = _mm512_set1_epi8(0x0F);
        __m512i       h    = _mm512_setzero_si512();
        if constexpr (has_qh) {
            h = dup256(xb.qh);
        }
        for (int cc = 0; cc < 2; ++cc) {
            const __m512i v  = ld512(xb.qs + 64 * cc);
            __m512i       lo = _mm512_and_si512(v, m4);
            __m512i       hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            if constexpr (has_qh) {
                // Fifth bits: bit 2c of qh[l] for the low nibbles of chunk c, bit 2c+1 for the high.
                const int       c0 = 2 * cc, c1 = 2 * cc + 1;
                const __m512i   blo = join256(_mm256_set1_epi8(static_cast<char>(1 << (2 * c0))),
                                              _mm256_set1_epi8(static_cast<char>(1 << (2 * c1))));
                const __m512i   bhi = join256(_mm256_set1_epi8(static_cast<char>(1 << (2 * c0 + 1))),
                                              _mm256_set1_epi8(static_cast<char>(1 << (2 * c1 + 1))));
                const __mmask64 klo = _mm512_test_epi8_mask(h, blo), khi = _mm512_test_epi8_mask(h, bhi);
                lo = _mm512_mask_add_epi8(lo, klo, lo, _mm512_set1_epi8(0x10));
                hi = _mm512_mask_add_epi8(hi, khi, hi, _mm512_set1_epi8(0x10));
            }
            // 32-code sub-blocks: each scale covers two 8-lane groups.
            const int s    = 4 * cc;
            q[2 * cc]      = lo;
            q[2 * cc + 1]  = hi;
            sc[2 * cc]     = _mm512_permutexvar_epi16(scale_idx(s, s, s + 2, s + 2), sc16);
            sc[2 * cc + 1] = _mm512_permutexvar_epi16(scale_idx(s + 1, s + 1, s + 3, s + 3), sc16);
        }
    }
};

// ---- Q6_K ----
// Half h of a super-block: 64 bytes of ql and 32 of qh give codes 0..63 for elements
// 128h + [0, 64) (low nibbles, qh bits 0-1 / 2-3) and 128h + [64, 128) (high nibbles, qh bits
// 4-5 / 6-7); both line up with contiguous activations. The codes are q + 32: 32 * sum_sub
// sc * bsum comes back out exactly in int32.
struct q6_block {
    __m512i q[4], sc[4];
    __m256i sc16;  // the sixteen int8 scales as int16
    explicit q6_block(const block_q6_K & xb) {
        const __m512i m4   = _mm512_set1_epi8(0x0F);
        const __m512i m30  = _mm512_set1_epi8(0x30);
        const __m512i sh_a = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);  // left: qh bits 0-1 / 2-3 -> 4-5
        const __m512i sh_b = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);  // right: bits 4-5 / 6-7 -> 4-5
        sc16               = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(xb.scales)));
        const __m512i scz  = _mm512_castsi256_si512(sc16);
        for (int h = 0; h < 2; ++h) {
            const __m512i l  = ld512(xb.ql + 64 * h);
            const __m512i qh = dup256(xb.qh + 32 * h);
            q[2 * h]     = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi64(qh, sh_a), m30));
            q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                           _mm512_and_si512(_mm512_srlv_epi64(qh, sh_b), m30));
            const int s  = 8 * h;
            sc[2 * h]    = _mm512_permutexvar_epi16(scale_idx(s, s + 1, s + 2, s + 3), scz);
            sc[2 * h + 1] = _mm512_permutexvar_epi16(scale_idx(s + 4, s + 5, s + 6, s + 7), scz);
        }
    }
};

}  // namespace kblocks
}  // namespace
}  // namespace sluice::kern
#endif
