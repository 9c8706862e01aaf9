// AVX-512 row-lanes kernels (avx512_row_lanes.h) of the K-quants: Q4_K, Q5_K and Q6_K.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_row_lanes.h"

namespace sluice::kern {
namespace {
namespace lanes {

using namespace x86;

// lo and hi (int16 values) as the low and high halves of one int32, as vpdpwssd pairs them.
inline int32_t int16_pair(int lo, int hi) {
    return static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xffffu) | (static_cast<uint32_t>(hi) << 16));
}

// ---- Q4_K / Q5_K ----
// Per (row, token) and super-block, with isum = sum_j sc_j * dot(q_j, a_j) and
// msum = sum_j m_j * sum(a_j) over the eight 32-code sub-blocks j (both exact in int32):
//   acc = fma(float(isum), d * da, acc);  acc = fnmadd(float(msum), dmin * da, acc)

// The activations of one super-block as q45_isum reads them.
using kblocks::act_q45;
using kblocks::q45_block;

// One token: per super-block each row's isum (16 lanes) and msum (8 lanes) come from the
// register tile's decode and are reduced across lanes in integers, 16 rows at a time.
template <typename block, bool has_qh>
inline void q45_dot_rows(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    const auto * y = static_cast<const block_q8_K *>(act);
    dot_rows_by_group<sizeof(block)>(n / QK_K, w, stride, n_rows, out, [&](const row_group & g, int64_t b, __m512 acc) {
        act_q45 a;
        a.load(y[b]);
        __m512i is[k_rows], ms[k_rows / 2];
        for (int i = 0; i < k_rows; i += 2) {
            const block &           x0 = reinterpret_cast<const block *>(g.row(i))[b];
            const block &           x1 = reinterpret_cast<const block *>(g.row(i + 1))[b];
            const q45_block<has_qh> q0(x0), q1(x1);
            is[i]     = kblocks::q45_isum(q0.q, q0.sc, a);
            is[i + 1] = kblocks::q45_isum(q1.q, q1.sc, a);
            ms[i / 2] = _mm512_madd_epi16(kblocks::join256(q0.mins, q1.mins), kblocks::join256(a.bsums, a.bsums));
        }
        const __m512i isum = sum_row_lanes<k_rows>(is);
        const __m512i msum = sum_row_lanes<k_rows / 2>(ms);
        // d and dmin lead each block: one dword per row.
        const __m512i dd = _mm512_i32gather_epi32(g.off, g.x + static_cast<uint64_t>(b) * sizeof(block), 1);
        const __m512  d  = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
        const __m512  dm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
        const __m512  da = _mm512_set1_ps(y[b].d);
        acc              = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, da), acc);
        return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dm, da), acc);
    });
}

// A group's super-block repacked for many tokens: q[j][k] lane i = codes 4k..4k+3 of row i's
// sub-block j; sc[j] lane i = its scale; mins[p] lane i = the mins of sub-blocks 2p (low
// int16) and 2p + 1 (high).
struct alignas(64) q45_packed {
    __m512i q[8][8];
    __m512i sc[8];
    __m512i mins[4];
    __m512  d, dmin;
};

// A token's per-super-block constants: its scale and the sums of its sub-blocks in int16
// pairs, as mins[p] takes them.
struct q45_token_block {
    float   d;
    int32_t sums[4];
};

inline q45_token_block q45_token(const block_q8_K & y) {
    q45_token_block c{y.d, {}};
    for (int p = 0; p < 4; ++p) {
        c.sums[p] = int16_pair(y.bsums[4 * p] + y.bsums[4 * p + 1], y.bsums[4 * p + 2] + y.bsums[4 * p + 3]);
    }
    return c;
}

// The same, stored (size-neutral: 16 x 144 bytes for Q4_K, 16 x 176 for Q5_K): qs (and qh) as
// 32-byte chunks dword-transposed over the rows, the 12 bytes of scales as three dwords per row
// and d / dmin as one dword per row.
template <bool has_qh>
struct q45_stored {
    uint8_t  qs[4][8][64];
    uint32_t scales[3][k_rows];
    uint32_t dd[k_rows];
};
template <>
struct q45_stored<true> {
    uint8_t  qh[8][64];
    uint8_t  qs[4][8][64];
    uint32_t scales[3][k_rows];
    uint32_t dd[k_rows];
};

template <typename block, bool has_qh>
inline void q45_store(const row_group & g, int64_t b, q45_stored<has_qh> & s) {
    const uint64_t at = static_cast<uint64_t>(b) * sizeof(block);
    __m512i        t[8];
    if constexpr (has_qh) {
        transposed_rows32(g, at + offsetof(block, qh), t);
        for (int k = 0; k < 8; ++k) {
            _mm512_storeu_si512(s.qh[k], t[k]);
        }
    }
    for (int c = 0; c < 4; ++c) {
        transposed_rows32(g, at + offsetof(block, qs) + 32 * static_cast<uint64_t>(c), t);
        for (int k = 0; k < 8; ++k) {
            _mm512_storeu_si512(s.qs[c][k], t[k]);
        }
    }
    // d and dmin, then the 12 bytes of scales: the block's first 16 bytes.
    static_assert(offsetof(block, scales) == 4 && sizeof(block::scales) == 12);
    __m512i head[4];
    transposed_rows16(g, at, head);
    _mm512_storeu_si512(s.dd, head[0]);
    for (int i = 0; i < 3; ++i) {
        _mm512_storeu_si512(s.scales[i], head[1 + i]);
    }
}

// The scales of a group's super-block unpacked to lanes, as the tiles read them (p: q45_packed
// or q45_scaled): sc[j] lane i = row i's scale of sub-block j, as unpack_scales_k4_x86 does for
// one row; mins[q] the mins of sub-blocks 2q, 2q + 1 as int16 pairs; d and dmin as floats.
template <bool has_qh, typename P>
inline void q45_unpack_scales(const q45_stored<has_qh> & s, P & p) {
    const __m512i u0  = _mm512_loadu_si512(s.scales[0]);
    const __m512i u1  = _mm512_loadu_si512(s.scales[1]);
    const __m512i u2  = _mm512_loadu_si512(s.scales[2]);
    const __m512i k3f = _mm512_set1_epi32(0x3f3f3f3f), k0f = _mm512_set1_epi32(0x0f0f0f0f);
    const __m512i k30   = _mm512_set1_epi32(0x30303030);
    const __m512i sc_lo = _mm512_and_si512(u0, k3f);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(u2, k0f), _mm512_and_si512(_mm512_srli_epi32(u0, 2), k30));
    const __m512i m_lo  = _mm512_and_si512(u1, k3f);
    const __m512i m_hi  = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), k0f),
                                          _mm512_and_si512(_mm512_srli_epi32(u1, 2), k30));
    // Byte j of each dword to its own int32 lane (sc), bytes (2q, 2q+1) to an int16 pair (mins).
    for (int j = 0; j < 4; ++j) {
        p.sc[j]     = _mm512_and_si512(_mm512_srli_epi32(sc_lo, 8 * j), _mm512_set1_epi32(0xff));
        p.sc[j + 4] = _mm512_and_si512(_mm512_srli_epi32(sc_hi, 8 * j), _mm512_set1_epi32(0xff));
    }
    const auto pairs = [](__m512i m, int q) {  // bytes 2q, 2q+1 of each dword -> two int16
        const __m512i x = _mm512_srli_epi32(m, 16 * q);
        return _mm512_or_si512(_mm512_and_si512(x, _mm512_set1_epi32(0xff)),
                               _mm512_and_si512(_mm512_slli_epi32(x, 8), _mm512_set1_epi32(0xff0000)));
    };
    p.mins[0]        = pairs(m_lo, 0);
    p.mins[1]        = pairs(m_lo, 1);
    p.mins[2]        = pairs(m_hi, 0);
    p.mins[3]        = pairs(m_hi, 1);
    const __m512i dd = _mm512_loadu_si512(s.dd);
    p.d              = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
    p.dmin           = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
}

// Codes 4k..4k+3 of the 16 rows' sub-blocks 2c (lo) and 2c + 1 (hi) from the stored form: the
// dword transpose commutes with the byte-wise nibble split, so each 32-byte chunk c of qs,
// transposed packed, holds both; Q5_K's qh gives sub-block j its fifth bits from bit j.
template <bool has_qh>
inline void q45_stored_pair(const q45_stored<has_qh> & s, int c, int k, __m512i & lo, __m512i & hi) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), fifth = _mm512_set1_epi8(0x10);
    const __m512i t = _mm512_loadu_si512(s.qs[c][k]);
    lo              = _mm512_and_si512(t, m4);
    hi              = _mm512_and_si512(_mm512_srli_epi16(t, 4), m4);
    if constexpr (has_qh) {
        const __m512i h = _mm512_loadu_si512(s.qh[k]);
        lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(h, _mm512_set1_epi8(static_cast<char>(1 << (2 * c)))), lo,
                                  fifth);
        hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(h, _mm512_set1_epi8(static_cast<char>(1 << (2 * c + 1)))),
                                  hi, fifth);
    }
}

// The whole group's super-block unpacked, for tiles that read it many times.
template <bool has_qh>
inline void q45_unpack(const q45_stored<has_qh> & s, q45_packed & p) {
    for (int c = 0; c < 4; ++c) {
        for (int k = 0; k < 8; ++k) {
            q45_stored_pair(s, c, k, p.q[2 * c][k], p.q[2 * c + 1][k]);
        }
    }
    q45_unpack_scales(s, p);
}

// A group's super-block as the one tile of few tokens reads it (dot_packed, up to few_tokens):
// the codes in place in the stored form (split as the tile reaches them: each split serves all
// the tile's tokens once, so unpacking them into a buffer first only adds stores), the scales
// unpacked. Kernel lab (--copies 256, one token, one thread, one group at a
// time as dot_packed runs decode): Q4_K 1.2-1.45x and Q5_K 1.5x dot_rows on the plain matrix,
// where unpacking every block into a buffer ran at 0.7-0.8x. (Q6_K's codes take two loads and
// five steps each; reading them in place did not beat its unpack, so Q6_K unpacks.)
template <bool has_qh>
struct alignas(64) q45_scaled {
    __m512i                    sc[8];
    __m512i                    mins[4];
    __m512                     d, dmin;
    const q45_stored<has_qh> * s;
};

// Codes 4k..4k+3 of sub-block j of the 16 rows, from either form.
inline __m512i unit_codes(const q45_packed & p, int j, int k) {
    return p.q[j][k];
}
template <bool has_qh>
inline __m512i unit_codes(const q45_scaled<has_qh> & p, int j, int k) {
    __m512i lo, hi;  // the tile reads one of them (the other is dropped unused)
    q45_stored_pair(*p.s, j / 2, k, lo, hi);
    return j % 2 == 0 ? lo : hi;
}

// isum[g][t] += sum_s sc_s * dot(q_s, codes of sub-block s of token t) for the G groups'
// units x[g] (codes by unit_codes, scales in member sc[S]): S sub-blocks of 4D codes, token t's at
// act + t * act_stride + at + 4D * s; exact in int32. The groups share each broadcast.
template <int T, int G, int S, int D, typename Unit>
inline void add_scaled_sub_block_dots(const Unit * const (&x)[G], const uint8_t * act, uint64_t act_stride, uint64_t at,
                                      __m512i (&isum)[G][T]) {
    constexpr int P = chains_per_sum(T * G);  // see avx512_row_lanes.h
    for (int s = 0; s < S; ++s) {
        __m512i dot[P][G][T];
        for (int p = 0; p < P; ++p) {
            for (int g = 0; g < G; ++g) {
                for (int t = 0; t < T; ++t) {
                    dot[p][g][t] = _mm512_setzero_si512();
                }
            }
        }
        for (int k = 0; k < D; ++k) {
            __m512i w[G];
            for (int g = 0; g < G; ++g) {
                w[g] = unit_codes(*x[g], s, k);
            }
            for (int t = 0; t < T; ++t) {
                const __m512i a = _mm512_set1_epi32(static_cast<int32_t>(
                    load_u32(act + static_cast<uint64_t>(t) * act_stride + at + 4 * D * s + 4 * k)));
                for (int g = 0; g < G; ++g) {
                    dot[k % P][g][t] = _mm512_dpbusd_epi32(dot[k % P][g][t], w[g], a);
                }
            }
        }
        add_chains(dot);
        for (int g = 0; g < G; ++g) {
            for (int t = 0; t < T; ++t) {
                isum[g][t] = _mm512_add_epi32(isum[g][t], _mm512_mullo_epi32(dot[0][g][t], x[g]->sc[s]));
            }
        }
    }
}

// T tokens x G groups of 16 rows over all nb super-blocks (units(b, x): group g's at x[g]), for a
// K-quant kind K with K::sub_blocks sub-blocks of 4 * K::sub_dwords codes: per (row, token)
// isum = K::isum_start(...) plus the scaled sub-block dots, then acc = K::float_step(...).
template <typename K, int T, int G, typename U>
inline void k_tile(int64_t nb, const U & units, const uint8_t * act, uint64_t act_stride,
                   const typename K::token_block * tb, uint16_t mask, float * out, int64_t out_stride) {
    __m512 acc[G][T];
    zero(acc);
    for (int64_t b = 0; b < nb; ++b) {
        const typename U::unit * x[G];
        __m512i                  isum[G][T];
        units(b, x);
        for (int g = 0; g < G; ++g) {
            for (int t = 0; t < T; ++t) {
                isum[g][t] = K::isum_start(*x[g], tb[t * nb + b]);
            }
        }
        const auto at = static_cast<uint64_t>(b) * sizeof(block_q8_K) + offsetof(block_q8_K, qs);
        add_scaled_sub_block_dots<T, G, K::sub_blocks, K::sub_dwords>(x, act, act_stride, at, isum);
        for (int t = 0; t < T; ++t) {
            for (int g = 0; g < G; ++g) {
                acc[g][t] = K::float_step(acc[g][t], isum[g][t], *x[g], tb[t * nb + b]);
            }
        }
    }
    store_rows(acc, mask, out, out_stride);
}

template <typename block, bool has_qh>
struct q45_kind {
    using w_block                              = block;
    using a_block                              = block_q8_K;
    using packed                               = q45_packed;
    using stored                               = q45_stored<has_qh>;
    using scaled                               = q45_scaled<has_qh>;
    using token_block                          = q45_token_block;
    static constexpr int64_t k_unit            = QK_K;
    static constexpr int     tile_tokens       = 6;   // kernel lab: T 4, 6, 8 within 8%
    static constexpr int     tile_groups       = 2;   // kernel lab: 1.03-1.08x one group
    static constexpr int     few_tokens        = 12;  // dot_packed: one group, one tile, codes in place
    static constexpr int     few_tile_tokens   = 12;
    static constexpr bool    tile_reads_stored = false;  // the tile reads unpacked scales
    static constexpr int     sub_blocks = 8, sub_dwords = 8;
    static token_block       token(const block_q8_K & y) { return q45_token(y); }
    static void              store(const row_group & g, int64_t b, stored & s) { q45_store<block, has_qh>(g, b, s); }
    static void              unpack(const stored & s, packed & p) { q45_unpack(s, p); }
    static void              unpack_scales(const stored & s, scaled & p) {
                     q45_unpack_scales(s, p);
                     p.s = &s;
    }
    template <typename Unit>
    static __m512i isum_start(const Unit &, const token_block &) {
        return _mm512_setzero_si512();
    }
    // acc += isum * d * da, then -= msum * dmin * da with msum = sum_j m_j * sum(a_j).
    template <typename Unit>
    static __m512 float_step(__m512 acc, __m512i isum, const Unit & x, const token_block & c) {
        __m512i msum = _mm512_setzero_si512();
        for (int q = 0; q < 4; ++q) {
            msum = _mm512_dpwssd_epi32(msum, x.mins[q], _mm512_set1_epi32(c.sums[q]));
        }
        const __m512 da = _mm512_set1_ps(c.d);
        acc             = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(x.d, da), acc);
        return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(x.dmin, da), acc);
    }
    template <int T, int G, typename U>
    static void tile(int64_t nb, const U & units, const uint8_t * act, uint64_t act_stride, const token_block * tb,
                     uint16_t mask, float * out, int64_t out_stride) {
        k_tile<q45_kind, T, G>(nb, units, act, act_stride, tb, mask, out, out_stride);
    }
};

// ---- Q6_K ----
// Per (row, token) and super-block, with the codes q in 0..63 (value q - 32) and int8 scales
// sc_s of the sixteen 16-code sub-blocks s: isum = sum_s sc_s * (dot(q_s, a_s) - 32 * sum(a_s)),
// exact in int32, then acc = fma(float(isum), d * da, acc).

// The F16 d that ends each block, for the 16 rows: the gathered dword holds scales[14..15] and
// d (a dword at d itself would read past the last block).
inline __m512 q6_scales16(const row_group & g, int64_t b) {
    const uint64_t at = static_cast<uint64_t>(b) * sizeof(block_q6_K) + offsetof(block_q6_K, d) - 2;
    const __m512i  v  = _mm512_i32gather_epi32(g.off, g.x + at, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
}

// One token: per super-block each row's isum comes from the register tile's decode
// (q6_block, 16 lanes) and the rows' lanes are reduced in integers.
inline void q6_dot_rows(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    const auto * y = static_cast<const block_q8_K *>(act);
    dot_rows_by_group<sizeof(block_q6_K)>(
        n / QK_K, w, stride, n_rows, out, [&](const row_group & g, int64_t b, __m512 acc) {
            __m512i a[4];
            for (int k = 0; k < 4; ++k) {
                a[k] = kblocks::ld512(y[b].qs + 64 * k);
            }
            const __m256i bsums = kblocks::ld256(y[b].bsums);
            __m512i       is[k_rows];
            for (int i = 0; i < k_rows; ++i) {
                const kblocks::q6_block x(reinterpret_cast<const block_q6_K *>(g.row(i))[b]);
                __m512i                 isum = _mm512_setzero_si512();
                for (int k = 0; k < 4; ++k) {
                    isum = kblocks::scaled_dot(isum, x.q[k], a[k], x.sc[k]);
                }
                const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(x.sc16, bsums), 5);
                is[i]              = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
            }
            const __m512i isum = sum_row_lanes<k_rows>(is);
            return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(q6_scales16(g, b), _mm512_set1_ps(y[b].d)),
                                   acc);
        });
}

// A group's super-block repacked for many tokens: q[s][k] lane i = codes 4k..4k+3 of row i's
// sub-block s (0..63); sc[s] lane i = its scale; scp[p] lane i = the scales of sub-blocks 2p
// (low int16) and 2p + 1 (high).
struct alignas(64) q6_packed {
    __m512i q[16][4];
    __m512i sc[16];
    __m512i scp[8];
    __m512  d;
};

inline __m512i unit_codes(const q6_packed & p, int s, int k) {
    return p.q[s][k];
}

// A token's per-super-block constants: its scale and its 16 sums of 16 codes in int16 pairs.
struct q6_token_block {
    float   d;
    int32_t sums[8];
};

inline q6_token_block q6_token(const block_q8_K & y) {
    q6_token_block c{y.d, {}};
    for (int p = 0; p < 8; ++p) {
        c.sums[p] = int16_pair(y.bsums[2 * p], y.bsums[2 * p + 1]);
    }
    return c;
}

// The same, stored (size-neutral: 16 x 210 bytes): ql and qh as 32-byte chunks dword-transposed
// over the rows, the 16 scales as four dwords per row, d as F16 per row.
struct q6_stored {
    uint8_t  ql[2][2][8][64];  // [half h][32-byte chunk][dword k]
    uint8_t  qh[2][8][64];
    uint32_t sc[4][k_rows];
    uint16_t d[k_rows];
};

inline void q6_store(const row_group & g, int64_t b, q6_stored & s) {
    const uint64_t at = static_cast<uint64_t>(b) * sizeof(block_q6_K);
    __m512i        t[8];
    const auto     put = [&](uint8_t(&dst)[8][64]) {
        for (int k = 0; k < 8; ++k) {
            _mm512_storeu_si512(dst[k], t[k]);
        }
    };
    for (int h = 0; h < 2; ++h) {
        for (int c = 0; c < 2; ++c) {
            transposed_rows32(g, at + offsetof(block_q6_K, ql) + 64 * static_cast<uint64_t>(h) + 32 * c, t);
            put(s.ql[h][c]);
        }
        transposed_rows32(g, at + offsetof(block_q6_K, qh) + 32 * static_cast<uint64_t>(h), t);
        put(s.qh[h]);
    }
    for (int q = 0; q < 4; ++q) {
        _mm512_storeu_si512(s.sc[q], _mm512_i32gather_epi32(g.off, g.x + at + offsetof(block_q6_K, scales) + 4 * q, 1));
    }
    // F16 -> float -> F16 is exact.
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(s.d),
                        _mm512_cvtps_ph(q6_scales16(g, b), _MM_FROUND_TO_NEAREST_INT));
}

// Elements 128h + 32m + l (quarter m of half h) take the low (m < 2) or high nibble of
// ql[64h + 32(m % 2) + l] and bits 2m, 2m + 1 of qh[32h + l]; the dword transposes commute
// with these byte-wise steps, so ql and qh were transposed packed. The scales are sign-extended
// byte by byte.
inline void q6_unpack(const q6_stored & s, q6_packed & p) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x03);
    for (int h = 0; h < 2; ++h) {
        for (int m = 0; m < 4; ++m) {
            for (int k = 0; k < 8; ++k) {
                const __m512i l  = _mm512_loadu_si512(s.ql[h][m % 2][k]);
                const __m512i qh = _mm512_loadu_si512(s.qh[h][k]);
                const __m512i lo = m < 2 ? _mm512_and_si512(l, m4) : _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
                const __m512i hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 2 * m), m3), 4);
                // Element 128h + 32m + 4k + j: sub-block 8h + 2m + k / 4, dword k % 4.
                p.q[8 * h + 2 * m + k / 4][k % 4] = _mm512_or_si512(lo, hi);
            }
        }
    }
    for (int q = 0; q < 4; ++q) {
        const __m512i v = _mm512_loadu_si512(s.sc[q]);
        for (int j = 0; j < 4; ++j) {
            p.sc[4 * q + j] = _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * j), 24);
        }
    }
    for (int q = 0; q < 8; ++q) {
        p.scp[q] = _mm512_or_si512(_mm512_and_si512(p.sc[2 * q], _mm512_set1_epi32(0xffff)),
                                   _mm512_slli_epi32(p.sc[2 * q + 1], 16));
    }
    p.d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(s.d)));
}

struct q6_kind {
    using w_block                              = block_q6_K;
    using a_block                              = block_q8_K;
    using packed                               = q6_packed;
    using stored                               = q6_stored;
    using token_block                          = q6_token_block;
    static constexpr int64_t k_unit            = QK_K;
    static constexpr int     tile_tokens       = 6;
    static constexpr int     tile_groups       = 1;  // kernel lab: two groups 0.9-1.0x
    static constexpr int     few_tokens        = 0;  // one group already
    static constexpr int     few_tile_tokens   = 6;
    static constexpr bool    tile_reads_stored = false;
    static constexpr int     sub_blocks = 16, sub_dwords = 4;
    static token_block       token(const block_q8_K & y) { return q6_token(y); }
    static void              store(const row_group & g, int64_t b, stored & s) { q6_store(g, b, s); }
    static void              unpack(const stored & s, packed & p) { q6_unpack(s, p); }
    // -32 * sum_s sc_s * sum(a_s): the sub-blocks' dot products go on top.
    static __m512i isum_start(const packed & x, const token_block & c) {
        __m512i corr = _mm512_setzero_si512();
        for (int q = 0; q < 8; ++q) {
            corr = _mm512_dpwssd_epi32(corr, x.scp[q], _mm512_set1_epi32(c.sums[q]));
        }
        return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(corr, 5));
    }
    static __m512 float_step(__m512 acc, __m512i isum, const packed & x, const token_block & c) {
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(x.d, _mm512_set1_ps(c.d)), acc);
    }
    template <int T, int G, typename U>
    static void tile(int64_t nb, const U & units, const uint8_t * act, uint64_t act_stride, const token_block * tb,
                     uint16_t mask, float * out, int64_t out_stride) {
        k_tile<q6_kind, T, G>(nb, units, act, act_stride, tb, mask, out, out_stride);
    }
};

}  // namespace lanes
}  // namespace
}  // namespace sluice::kern
#endif
