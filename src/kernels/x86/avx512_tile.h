// AVX-512 register tiles of R rows x T tokens for Q8_0, Q4_K / Q5_K and Q6_K: a block of each
// row is decoded once (codes, scales) and applied to T tokens' activations, each (row, token)
// pair with its own accumulator. dot_rows is the T = 1 instance of the same template, so the
// float operations applied to one (row, token) pair (lane layout, per-block FMA, final
// reduction) are the same whatever R, T, the tile's shape or the thread split: prefill and
// batched decode stay bit-identical to decoding one token at a time.
//
// Included by avx512_dot.cpp / avx512_dot_k.cpp (the tables take one R x T each) and by the
// kernel lab (bench/gemm_lab_avx512.cpp), which times other shapes. Everything lives in an
// unnamed namespace: each including file, all compiled with the AVX-512 flags, gets its own copy.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/decoded_tile.h"
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {
namespace tile512 {

using namespace x86;

// The tile the tables use (the kernel lab's winner, bench/gemm_lab_avx512.cpp).
constexpr int k_tile_rows   = 4;
constexpr int k_tile_tokens = 4;

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
// Four F16 values (missing ones 0) -> four floats.
inline __m128 f16x4(uint64_t bits) {
    return _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(bits)));
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

template <int R, int T>
struct tile_ptrs {
    const uint8_t * x[R];
    const uint8_t * y[T];
    tile_ptrs(const uint8_t * w, uint64_t stride, const uint8_t * act, uint64_t act_stride) {
        for (int r = 0; r < R; ++r) {
            x[r] = w + static_cast<uint64_t>(r) * stride;
        }
        for (int t = 0; t < T; ++t) {
            y[t] = act + static_cast<uint64_t>(t) * act_stride;
        }
    }
};

// ---- Q8_0 weights: two blocks per zmm, codes offset by 128 (xor) ----
// The 64 codes of blocks x[0] and x[1] (x[1] zeros when !two: an odd last block).
inline __m512i q8_0_pair_codes(const block_q8_0 * x, bool two) {
    return join256(ld256(x[0].qs), two ? ld256(x[1].qs) : _mm256_setzero_si256());
}
// Their scales, x[0]'s on lanes 0..7 and x[1]'s on 8..15.
inline __m512 q8_0_pair_scales(const block_q8_0 * x, bool two) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(
        idx, _mm512_zextps128_ps512(f16x4(x[0].d | (two ? static_cast<uint64_t>(x[1].d) << 16 : 0))));
}
// -128 * sum(a) per 4-code lane: the correction of dpbusd on codes offset by 128.
inline __m512i q8_0_neg_sum(__m512i a) {
    return _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), a));
}

// Per (row, token) and block pair: isum = dpbusd(-128 * sum(a), q ^ 0x80, a) (exact), then
// acc += float(isum) * (dw * da) with the two blocks' scale products spread over lanes 0..7
// and 8..15.
struct k_q8_0 {
    template <int R, int T>
    static void run(int64_t n, const uint8_t * w, uint64_t stride, const uint8_t * act, uint64_t act_stride,
                    float * out, int64_t out_stride) {
        const tile_ptrs<R, T> p(w, stride, act, act_stride);
        __m512                acc[R][T];
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                acc[r][t] = _mm512_setzero_ps();
            }
        }
        const __m512i flip = _mm512_set1_epi8(-128);
        const int64_t nb   = n / QK8_0;
        for (int64_t b = 0; b < nb; b += 2) {
            const bool two = b + 1 < nb;  // an odd last block pairs with zeros
            __m512i    a[T], neg[T];
            __m512     da[T];
            for (int t = 0; t < T; ++t) {
                const auto * y = reinterpret_cast<const block_q8_0 *>(p.y[t]) + b;
                a[t]           = q8_0_pair_codes(y, two);
                da[t]          = q8_0_pair_scales(y, two);
                neg[t]         = q8_0_neg_sum(a[t]);
            }
            for (int r = 0; r < R; ++r) {
                const auto * x = reinterpret_cast<const block_q8_0 *>(p.x[r]) + b;
                prefetch_ahead<2 * sizeof(block_q8_0)>(x, R * stride);
                const __m512i q  = _mm512_xor_si512(q8_0_pair_codes(x, two), flip);
                const __m512  dw = q8_0_pair_scales(x, two);
                for (int t = 0; t < T; ++t) {
                    const __m512i isum = _mm512_dpbusd_epi32(neg[t], q, a[t]);
                    acc[r][t]          = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, da[t]), acc[r][t]);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
            }
        }
    }
};

// ---- Q4_K / Q5_K ----
// 64 bytes of qs hold chunks 2cc and 2cc+1: low nibbles are sub-blocks 4cc and 4cc+2, high
// nibbles 4cc+1 and 4cc+3 (32 codes each), so the activations are regrouped to match. The mins
// meet the activation's bsums in a separate 8-lane accumulator.
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

// One Q4_K / Q5_K super-block decoded once for all the tokens of a tile: the eight mins, each
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

// The Q4_K / Q5_K tiles' results: per (row, token) the 16-lane sum plus the 8-lane sum of
// the mins (token pairs share a zmm of min accumulators, an odd last token has its own ymm).
template <int R, int T>
inline void q45_store(const __m512 (&acc)[R][T], const __m512 (&accm)[R][T / 2 + 1], const __m256 (&accm1)[R],
                      float * out, int64_t out_stride) {
    constexpr int P = T / 2;
    for (int r = 0; r < R; ++r) {
        for (int t = 0; t < T; ++t) {
            const __m256 m          = t == 2 * P   ? accm1[r]
                                      : t % 2 == 0 ? _mm512_castps512_ps256(accm[r][t / 2])
                                                   : _mm512_extractf32x8_ps(accm[r][t / 2], 1);
            out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]) + hsum_ps256(m);
        }
    }
}

// Per (row, token) and super-block: isum (16 int32 lanes, exact) -> acc += float(isum) * (da * d)
// and, for the mins, msum = mins . bsums (8 int32 lanes) -> accm -= float(msum) * (da * dmin)
// (fnmadd: one rounding of the same value as an FMA with the negated product). The 8-lane min
// accumulators of two tokens share one zmm; an odd last token keeps its own ymm. Only the
// placement of the lanes differs between T = 1 and T > 1, never a lane's operations.
template <typename block, bool has_qh>
struct k_q45_k {
    template <int R, int T>
    static void run(int64_t n, const uint8_t * w, uint64_t stride, const uint8_t * act, uint64_t act_stride,
                    float * out, int64_t out_stride) {
        constexpr int         P = T / 2;  // token pairs; an odd last token uses accm1
        const tile_ptrs<R, T> p(w, stride, act, act_stride);
        __m512                acc[R][T], accm[R][P + 1];  // + 1: no zero-length array when T = 1
        __m256                accm1[R];
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                acc[r][t] = _mm512_setzero_ps();
            }
            for (int j = 0; j < P; ++j) {
                accm[r][j] = _mm512_setzero_ps();
            }
            accm1[r] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < n / QK_K; ++b) {
            act_q45 a[T];
            __m512  da[T], da2[P + 1];
            __m512i bs2[P + 1];
            for (int t = 0; t < T; ++t) {
                a[t].load(reinterpret_cast<const block_q8_K *>(p.y[t])[b]);
                da[t] = _mm512_set1_ps(a[t].d);
            }
            for (int j = 0; j < P; ++j) {
                bs2[j] = join256(a[2 * j].bsums, a[2 * j + 1].bsums);
                da2[j] = _mm512_insertf32x8(da[2 * j], _mm512_castps512_ps256(da[2 * j + 1]), 1);
            }
            for (int r = 0; r < R; ++r) {
                const block & xb = reinterpret_cast<const block *>(p.x[r])[b];
                prefetch_ahead<sizeof(block)>(&xb, R * stride);
                const q45_block<has_qh> x(xb);
                const __m256i           mins  = x.mins;
                const __m512i           mins2 = _mm512_broadcast_i64x4(mins);
                const __m512i *         q = x.q, *sc = x.sc;
                const __m512 d = _mm512_set1_ps(f16_to_f32_x86(xb.d)), dmin = _mm512_set1_ps(f16_to_f32_x86(xb.dmin));
                for (int t = 0; t < T; ++t) {
                    const __m512i isum = q45_isum(q, sc, a[t]);
                    acc[r][t]          = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(da[t], d), acc[r][t]);
                }
                for (int j = 0; j < P; ++j) {
                    // -(da * dmin) * msum + accm, one rounding: fnmadd.
                    const __m512i msum = _mm512_madd_epi16(mins2, bs2[j]);
                    accm[r][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(da2[j], dmin), accm[r][j]);
                }
                if constexpr (T % 2 == 1) {
                    const __m256i msum = _mm256_madd_epi16(mins, a[T - 1].bsums);
                    accm1[r]           = _mm256_fnmadd_ps(
                                  _mm256_cvtepi32_ps(msum),
                                  _mm256_mul_ps(_mm512_castps512_ps256(da[T - 1]), _mm512_castps512_ps256(dmin)), accm1[r]);
                }
            }
        }
        q45_store<R, T>(acc, accm, accm1, out, out_stride);
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

// Per (row, token) and super-block: isum over the four 64-code groups minus 32 * sc . bsums,
// then acc += float(isum) * (y.d * d).
inline __m512 q6_accumulate(__m512 acc, const __m512i * q, const __m512i * sc, __m256i sc16, float d,
                            const block_q8_K & y) {
    __m512i isum = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
        isum = scaled_dot(isum, q[k], ld512(y.qs + 64 * k), sc[k]);
    }
    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(y.bsums)), 5);
    isum               = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(y.d * d), acc);
}

struct k_q6_k {
    template <int R, int T>
    static void run(int64_t n, const uint8_t * w, uint64_t stride, const uint8_t * act, uint64_t act_stride,
                    float * out, int64_t out_stride) {
        const tile_ptrs<R, T> p(w, stride, act, act_stride);
        __m512                acc[R][T];
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                acc[r][t] = _mm512_setzero_ps();
            }
        }
        for (int64_t b = 0; b < n / QK_K; ++b) {
            for (int r = 0; r < R; ++r) {
                const block_q6_K & xb = reinterpret_cast<const block_q6_K *>(p.x[r])[b];
                prefetch_ahead<sizeof(block_q6_K)>(&xb, R * stride);
                const q6_block x(xb);
                const float    d = f16_to_f32_x86(xb.d);
                for (int t = 0; t < T; ++t) {
                    acc[r][t] =
                        q6_accumulate(acc[r][t], x.q, x.sc, x.sc16, d, reinterpret_cast<const block_q8_K *>(p.y[t])[b]);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
            }
        }
    }
};

// ---- drivers ----

// Tokens [0, n_tok) of R rows in groups of T, the rest with smaller T.
template <typename K, int R, int T>
inline void tile_tokens(int64_t n, const uint8_t * w, uint64_t stride, const uint8_t * act, uint64_t act_stride,
                        int64_t n_tok, float * out, int64_t out_stride) {
    int64_t t = 0;
    for (; t + T <= n_tok; t += T) {
        K::template run<R, T>(n, w, stride, act + static_cast<uint64_t>(t) * act_stride, act_stride,
                              out + t * out_stride, out_stride);
    }
    if constexpr (T > 1) {
        if (t < n_tok) {
            tile_tokens<K, R, T - 1>(n, w, stride, act + static_cast<uint64_t>(t) * act_stride, act_stride, n_tok - t,
                                     out + t * out_stride, out_stride);
        }
    }
}

// out[t * out_stride + r] = dot(row r, token t) over rows in groups of R (the rest one at a
// time) and, within a group, tokens in groups of T. The rows of a group stay in L1 while the
// group's tokens pass.
template <typename K, int R, int T>
void dot_tile(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, uint64_t act_stride,
              int64_t n_tok, float * out, uint64_t out_stride, void * /*scratch*/ = nullptr) {
    const auto * wb = static_cast<const uint8_t *>(w);
    const auto * ab = static_cast<const uint8_t *>(act);
    const auto   os = static_cast<int64_t>(out_stride);
    int64_t      r  = 0;
    for (; r + R <= n_rows; r += R) {
        tile_tokens<K, R, T>(n, wb + static_cast<uint64_t>(r) * stride, stride, ab, act_stride, n_tok, out + r, os);
    }
    for (; r < n_rows; ++r) {
        tile_tokens<K, 1, T>(n, wb + static_cast<uint64_t>(r) * stride, stride, ab, act_stride, n_tok, out + r, os);
    }
}

// ---- many tokens: each row decoded once per call (decoded_tile.h) ----
// The register tiles above decode a row's super-block again for every T tokens; with many
// tokens that decode costs as much as the dot products. These kernels D decode once per call
// and apply, per (row, token), the register tile's operations in the same order, so results
// equal dot_rows bit for bit.

// Q4_K / Q5_K: the activations regrouped to the nibble order (act_q45) once per call.
template <typename block, bool has_qh>
struct q45_decoded_kernel {
    using w_unit                    = block;
    using a_unit                    = block_q8_K;
    static constexpr int64_t k_unit = QK_K;
    using act                       = act_q45;
    struct alignas(64) decoded {
        __m512i q[4], sc[4];
        __m256i mins;
        float   d, dmin;
    };
    static void decode(const block & xb, decoded & dx) {
        const q45_block<has_qh> x(xb);
        for (int k = 0; k < 4; ++k) {
            dx.q[k]  = x.q[k];
            dx.sc[k] = x.sc[k];
        }
        dx.mins = x.mins;
        dx.d    = f16_to_f32_x86(xb.d);
        dx.dmin = f16_to_f32_x86(xb.dmin);
    }
    template <int R, int T>
    static void tile(int64_t nb, const decoded * xs, const act * as, float * out, int64_t out_stride) {
        constexpr int P = T / 2;  // token pairs share a min accumulator, as in k_q45_k
        __m512        acc[R][T], accm[R][P + 1];
        __m256        accm1[R];
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                acc[r][t] = _mm512_setzero_ps();
            }
            for (int j = 0; j < P; ++j) {
                accm[r][j] = _mm512_setzero_ps();
            }
            accm1[r] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < nb; ++b) {
            for (int r = 0; r < R; ++r) {
                const decoded & x     = xs[b * R + r];
                const __m512i   mins2 = _mm512_broadcast_i64x4(x.mins);
                const __m512    d = _mm512_set1_ps(x.d), dmin = _mm512_set1_ps(x.dmin);
                for (int t = 0; t < T; ++t) {
                    const act &   a    = as[t * nb + b];
                    const __m512i isum = q45_isum(x.q, x.sc, a);
                    acc[r][t] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(_mm512_set1_ps(a.d), d), acc[r][t]);
                }
                for (int j = 0; j < P; ++j) {
                    const act &   a0 = as[2 * j * nb + b], &a1 = as[(2 * j + 1) * nb + b];
                    const __m512i msum = _mm512_madd_epi16(mins2, join256(a0.bsums, a1.bsums));
                    const __m512  da2  = _mm512_insertf32x8(_mm512_set1_ps(a0.d), _mm256_set1_ps(a1.d), 1);
                    accm[r][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(da2, dmin), accm[r][j]);
                }
                if constexpr (T % 2 == 1) {
                    const act &   a    = as[(T - 1) * nb + b];
                    const __m256i msum = _mm256_madd_epi16(x.mins, a.bsums);
                    accm1[r] =
                        _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum),
                                         _mm256_mul_ps(_mm256_set1_ps(a.d), _mm512_castps512_ps256(dmin)), accm1[r]);
                }
            }
        }
        q45_store<R, T>(acc, accm, accm1, out, out_stride);
    }
};

// Q6_K: the activations are read in their own order; copied so that each token's
// super-blocks sit together in L1 like the decoded rows.
struct q6_decoded_kernel {
    using w_unit                    = block_q6_K;
    using a_unit                    = block_q8_K;
    static constexpr int64_t k_unit = QK_K;
    struct act {
        block_q8_K y;
        void       load(const block_q8_K & src) { y = src; }
    };
    struct alignas(64) decoded {
        __m512i q[4], sc[4];
        __m256i sc16;
        float   d;
    };
    static void decode(const block_q6_K & xb, decoded & dx) {
        const q6_block x(xb);
        for (int k = 0; k < 4; ++k) {
            dx.q[k]  = x.q[k];
            dx.sc[k] = x.sc[k];
        }
        dx.sc16 = x.sc16;
        dx.d    = f16_to_f32_x86(xb.d);
    }
    template <int R, int T>
    static void tile(int64_t nb, const decoded * xs, const act * as, float * out, int64_t out_stride) {
        __m512 acc[R][T] = {};
        for (int64_t b = 0; b < nb; ++b) {
            for (int r = 0; r < R; ++r) {
                const decoded & x = xs[b * R + r];
                for (int t = 0; t < T; ++t) {
                    acc[r][t] = q6_accumulate(acc[r][t], x.q, x.sc, x.sc16, x.d, as[t * nb + b].y);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
            }
        }
    }
};
// Q8_0: a unit is a pair of blocks, as k_q8_0 takes them (n a multiple of 64; an odd last
// block stays with the register tile). Rows keep their codes offset by 128 and their two
// scales spread over lanes 0..7 and 8..15; tokens keep their codes, scales and the
// -128 * sum(a) correction of dpbusd.
struct q8_0_decoded_kernel {
    struct pair {
        block_q8_0 b[2];
    };
    using w_unit                        = pair;
    using a_unit                        = pair;
    static constexpr int64_t k_unit     = 2 * QK8_0;
    static constexpr int64_t min_tokens = 32;
    struct alignas(64) decoded {
        __m512i q;
        __m512  dw;
    };
    struct alignas(64) act {
        __m512i a, neg;
        __m512  da;
        void    load(const pair & y) {
               a   = q8_0_pair_codes(y.b, true);
               da  = q8_0_pair_scales(y.b, true);
               neg = q8_0_neg_sum(a);
        }
    };
    static void decode(const pair & x, decoded & dx) {
        dx.q  = _mm512_xor_si512(q8_0_pair_codes(x.b, true), _mm512_set1_epi8(-128));
        dx.dw = q8_0_pair_scales(x.b, true);
    }
    template <int R, int T>
    static void tile(int64_t nb, const decoded * xs, const act * as, float * out, int64_t out_stride) {
        __m512 acc[R][T] = {};
        for (int64_t b = 0; b < nb; ++b) {
            for (int r = 0; r < R; ++r) {
                const decoded & x = xs[b * R + r];
                for (int t = 0; t < T; ++t) {
                    const act &   a    = as[t * nb + b];
                    const __m512i isum = _mm512_dpbusd_epi32(a.neg, x.q, a.a);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(x.dw, a.da), acc[r][t]);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
            }
        }
    }
};

// Below D::min_tokens tokens the decode stays in registers (the register tile): storing and
// reloading a decoded row costs more than decoding it again for a few tiles of tokens. The
// K-quants' decode is heavy (from 2 tiles on); Q8_0's is a xor and a permute, and its
// decoded tile only wins from 32 tokens (kernel lab, --copies 32: 0.74x at 8, 1.0x at 16,
// 1.15-1.2x at 64).
template <typename D>
constexpr int64_t decode_min_tokens() {
    if constexpr (requires { D::min_tokens; }) {
        return D::min_tokens;
    } else {
        return 2 * k_tile_tokens;
    }
}

// Scratch bytes of decoded_dot_tile<D> (decoded_tile.h).
template <typename D>
uint64_t decoded_tile_scratch(int64_t n, int64_t n_tok) {
    return n_tok < decode_min_tokens<D>() || n % D::k_unit != 0 ? 0 : decoded::scratch_bytes<D, k_tile_rows>(n, n_tok);
}

// The table's dot_tile for a type with a decoded kernel D, and register tile K for few tokens.
template <typename K, typename D>
void decoded_dot_tile(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, uint64_t act_stride,
                      int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    if (n_tok < decode_min_tokens<D>() || n % D::k_unit != 0) {
        dot_tile<K, k_tile_rows, k_tile_tokens>(n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride);
        return;
    }
    decoded::dot_tile<D, k_tile_rows, k_tile_tokens>(n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride,
                                                     scratch);
}

// dot_rows: the T = 1 instance, rows in groups of k_row_group.
template <typename K>
void dot_rows(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    dot_tile<K, k_row_group, 1>(n, w, stride, n_rows, act, 0, 1, out, 0);
}

}  // namespace tile512
}  // namespace
}  // namespace sluice::kern
#endif
