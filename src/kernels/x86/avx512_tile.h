// AVX-512 register tiles of R rows x T tokens for Q6_K: a block of each row is decoded once
// (codes, scales) and applied to T tokens' activations, each (row, token) pair with its own
// accumulator. dot_rows is the T = 1 instance of the same template, so the float operations
// applied to one (row, token) pair (lane layout, per-block FMA, final reduction) are the same
// whatever R, T, the tile's shape or the thread split: prefill and batched decode stay
// bit-identical to decoding one token at a time. Also the Q4_K / Q5_K super-block decode
// (q45_block, q45_isum) that the row-lanes kernels' dot_rows reduces (avx512_row_lanes.h).
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
// The register tile above decodes a row's super-block again for every T tokens; with many
// tokens that decode costs as much as the dot products. This kernel D decodes once per call
// and applies, per (row, token), the register tile's operations in the same order, so results
// equal dot_rows bit for bit.

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
// Below two tiles of tokens the decode stays in registers (the register tile): storing and
// reloading a decoded row costs more than decoding it again.
template <typename D>
constexpr int64_t decode_min_tokens() {
    return 2 * k_tile_tokens;
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
