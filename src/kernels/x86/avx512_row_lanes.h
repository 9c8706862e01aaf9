// AVX-512 "row lanes" kernels: sixteen weight rows side by side, one row per int32 / float lane,
// so that a block's integer dot product is finished per row before its single float step:
//
//   acc[row] = fma(float(isum_b), dw_b * da_b, acc[row])   for blocks b = 0, 1, ... in order
//   out[row] = acc[row]                                   (no horizontal reduction)
//
// (Q4_K / Q5_K: two float steps per super-block, one for the scales and one for the mins; Q6_K
// one, its -32 offset folded into the integer sum.)
// The integer part is exact however it is computed, so the two kernels below give the same bits:
//   dot_rows (one token): loads the rows' block the way a one-row kernel would, vpdpbusd (or
//     the K-quant decode of avx512_k_blocks.h) against the token's block, and reduces each row's
//     lanes in integers (an even/odd tree over the 16 rows);
//   dot_tile (many tokens): repacks the 16 rows once per call so that zmm k holds bytes
//     4k..4k+3 of every row's block, then a token's block is a run of vpdpbusd whose activation
//     dword comes broadcast from memory: 64 multiply-adds per instruction and one float step
//     per 16 rows, where a tile that keeps rows in registers and reduces across lanes pays a
//     float step per 4-code lane. Two groups of 16 rows can share each broadcast. Kernel lab,
//     one thread, 64 tokens (bench/gemm_bench.cpp --copies 16), same run: Q4_K 473-500 GFLOP/s
//     against 218-262 for the decoded 4 x 4 register tile it replaced, Q8_0 270-295 against
//     180; two groups then added 3-10%.
// Types: the 32-code blocks with Q8_0 activations (Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4), whose
// signed codes are offset to unsigned for vpdpbusd (the -shift * sum(a) of each token's block
// puts the offset back, exactly), and Q4_K / Q5_K / Q6_K, whose codes are unsigned already.
//
// Included by avx512_dot.cpp, avx512_dot_k.cpp and the kernel lab; everything lives in an
// unnamed namespace.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_k_blocks.h"
#include "kernels/x86/x86_common.h"
#include "tensor/iq_tables.h"

#include <algorithm>

namespace sluice::kern {
namespace {
namespace lanes {

using namespace x86;

constexpr int k_rows = 16;  // rows per group: one per 32-bit lane

// From this many tokens dot_tile repacks; below it runs dot_rows token by token. Kernel lab
// (--copies 32, repack against dot_rows per token): at 4 tokens 0.57-1.26x, at 5 0.63-1.22x,
// at 6 1.15-1.76x for Q8_0, Q4_K and Q6_K.
constexpr int64_t k_min_tokens = 6;

// The even / odd 32-bit lanes of (a, b): lanes 0..7 from a, 8..15 from b.
inline __m512i even_lanes(__m512i a, __m512i b) {
    return _mm512_permutex2var_epi32(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                                     b);
}
inline __m512i odd_lanes(__m512i a, __m512i b) {
    return _mm512_permutex2var_epi32(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),
                                     b);
}

// Sums the lanes of each row: z[0..N) hold the 16 rows in order, 16 / N rows per register and
// N lanes per row; lane i of the result is row i's sum (exact, in integers).
template <int N>
inline __m512i sum_row_lanes(__m512i * z) {
    for (int m = N; m > 1; m /= 2) {
        for (int i = 0; i < m / 2; ++i) {
            z[i] = _mm512_add_epi32(even_lanes(z[2 * i], z[2 * i + 1]), odd_lanes(z[2 * i], z[2 * i + 1]));
        }
    }
    return z[0];
}

// The 16 x 8 dword transpose in three even / odd levels: z[k] holds rows 2k (lanes 0..7) and
// 2k+1 (lanes 8..15), eight dwords each; out[c] lane i = dword c of row i.
inline void transpose_16x8(const __m512i (&z)[8], __m512i * out) {
    // Level 1: rows 4j..4j+3, columns {0,2,4,6} (e) and {1,3,5,7} (o).
    __m512i e[4], o[4];
    for (int j = 0; j < 4; ++j) {
        e[j] = even_lanes(z[2 * j], z[2 * j + 1]);
        o[j] = odd_lanes(z[2 * j], z[2 * j + 1]);
    }
    // Level 2: rows 8h..8h+7, column pairs {0,4} {2,6} {1,5} {3,7}.
    __m512i c04[2], c26[2], c15[2], c37[2];
    for (int h = 0; h < 2; ++h) {
        c04[h] = even_lanes(e[2 * h], e[2 * h + 1]);
        c26[h] = odd_lanes(e[2 * h], e[2 * h + 1]);
        c15[h] = even_lanes(o[2 * h], o[2 * h + 1]);
        c37[h] = odd_lanes(o[2 * h], o[2 * h + 1]);
    }
    // Level 3: one column for all 16 rows.
    out[0] = even_lanes(c04[0], c04[1]);
    out[4] = odd_lanes(c04[0], c04[1]);
    out[2] = even_lanes(c26[0], c26[1]);
    out[6] = odd_lanes(c26[0], c26[1]);
    out[1] = even_lanes(c15[0], c15[1]);
    out[5] = odd_lanes(c15[0], c15[1]);
    out[3] = even_lanes(c37[0], c37[1]);
    out[7] = odd_lanes(c37[0], c37[1]);
}

// The 16 rows of a group: row i at x + off[i] (rows past the matrix repeat its last row, their
// lanes are never stored), and the mask of the real ones.
struct row_group {
    const uint8_t * x;
    uint64_t        stride;
    int             n;    // real rows, 1..16
    __m512i         off;  // byte offset of each row from x, int32
    uint16_t        mask() const { return static_cast<uint16_t>((1u << n) - 1u); }
    const uint8_t * row(int i) const { return x + static_cast<uint64_t>(std::min(i, n - 1)) * stride; }
    row_group(const uint8_t * w, uint64_t row_stride, int rows) : x(w), stride(row_stride), n(rows) {
        alignas(64) int32_t o[k_rows];
        for (int i = 0; i < k_rows; ++i) {
            o[i] = static_cast<int32_t>(static_cast<uint64_t>(std::min(i, rows - 1)) * row_stride);
        }
        off = _mm512_load_si512(o);
    }
};

// t[k] lane i = dword k of the 32 bytes at byte `at` of row i of the group.
inline void transposed_rows32(const row_group & g, uint64_t at, __m512i (&t)[8]) {
    __m512i z[8];
    for (int k = 0; k < 8; ++k) {
        z[k] = kblocks::join256(kblocks::ld256(g.row(2 * k) + at), kblocks::ld256(g.row(2 * k + 1) + at));
    }
    transpose_16x8(z, t);
}

// One token's pass reads 16 rows side by side, 16 streams the hardware prefetchers do not
// follow: while it reads block b of this group, block b of the next group's rows is fetched
// (the next group starts right after this one; prefetches past the matrix never fault). In the
// kernel lab (--copies 64, one token) this ran about 1.5x faster than fetching each row a few
// blocks ahead, and 2x faster than no prefetch.
template <int bytes>
inline void prefetch_next_group(const row_group & g, uint64_t at) {
    const uint8_t * next = g.x + k_rows * g.stride + at;
    for (int i = 0; i < k_rows; ++i) {
        prefetch_ahead<bytes>(next, static_cast<uint64_t>(i) * g.stride);
    }
}

// ---- 32-code blocks with Q8_0 activations: Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4 ----
// A code type C gives a block's 32 codes as unsigned bytes, value + C::shift, in element order
// (C::codes), and the 16 rows' scales of block b as floats (C::scales). vpdpbusd then sums
// (q + shift) * a and the -shift * sum(a) of each token's block puts it back, exactly.

// The low nibbles of 16 bytes are elements 0..15, the high ones 16..31.
inline __m256i nibbles32(const uint8_t * qs) {
    const __m128i v  = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
}

// The F16 d that leads each block, for the 16 rows (one gathered dword per row).
template <typename block>
inline __m512 f16_scales16(const row_group & g, int64_t b) {
    const __m512i d = _mm512_i32gather_epi32(g.off, g.x + static_cast<uint64_t>(b) * sizeof(block), 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d));
}

struct c_q8_0 {
    using block                = block_q8_0;
    static constexpr int shift = 128;  // xor 0x80
    static __m256i       codes(const block & x) {
              return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs)), _mm256_set1_epi8(-128));
    }
    static __m512 scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_q4_0 {
    using block                = block_q4_0;
    static constexpr int shift = 8;  // stored as q, value q - 8
    static __m256i       codes(const block & x) { return nibbles32(x.qs); }
    static __m512        scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_q5_0 {
    using block                = block_q5_0;
    static constexpr int shift = 16;
    static __m256i       codes(const block & x) {  // bit 4 of element j is bit j of qh
        const __m256i c = nibbles32(x.qs);
        return _mm256_mask_add_epi8(c, load_u32(x.qh), c, _mm256_set1_epi8(0x10));
    }
    static __m512 scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_iq4_nl {
    using block                = block_iq4_nl;
    static constexpr int shift = 128;
    static __m256i       codes(const block & x) {  // kvalues_iq4nl + 128, looked up per nibble
        const __m256i table = _mm256_add_epi8(
                  _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kvalues_iq4nl))),
                  _mm256_set1_epi8(-128));
        return _mm256_shuffle_epi8(table, nibbles32(x.qs));
    }
    static __m512 scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_mxfp4 {
    using block                = block_mxfp4;
    static constexpr int shift = 128;
    static __m256i       codes(const block & x) {  // kvalues_mxfp4 (E2M1 doubled) + 128
        const __m256i table = _mm256_add_epi8(
                  _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kvalues_mxfp4))),
                  _mm256_set1_epi8(-128));
        return _mm256_shuffle_epi8(table, nibbles32(x.qs));
    }
    // E8M0 halved (the codes are doubled); one byte per 17-byte block, read row by row (a
    // dword gather would read past the last block).
    static __m512 scales(const row_group & g, int64_t b) {
        alignas(64) float s[k_rows];
        for (int i = 0; i < k_rows; ++i) {
            s[i] = e8m0_half_x86(reinterpret_cast<const block *>(g.row(i))[b].e);
        }
        return _mm512_load_ps(s);
    }
};

// Block b of the group's rows: z[k] holds rows 2k (lanes 0..7) and 2k+1 (lanes 8..15), each
// as eight dwords of four codes.
template <typename C>
inline void q32_load(const row_group & g, int64_t b, __m512i (&z)[8]) {
    for (int k = 0; k < 8; ++k) {
        const __m256i lo = C::codes(reinterpret_cast<const typename C::block *>(g.row(2 * k))[b]);
        const __m256i hi = C::codes(reinterpret_cast<const typename C::block *>(g.row(2 * k + 1))[b]);
        z[k]             = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
}

// -shift * sum(a) of a token's block.
template <typename C>
inline int32_t q32_correction(const block_q8_0 & y) {
    int32_t s = 0;
    for (int i = 0; i < QK8_0; ++i) {
        s += y.qs[i];
    }
    return -C::shift * s;
}

// One token, rows in groups of 16: per block the rows' eight 4-code lanes are reduced in
// integers (exact) to one lane per row, then the row lanes take the float step.
template <typename C>
inline void q32_dot_rows(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    using block      = typename C::block;
    const auto *  y  = static_cast<const block_q8_0 *>(act);
    const int64_t nb = n / QK8_0;
    for (int64_t r = 0; r < n_rows; r += k_rows) {
        const row_group g(static_cast<const uint8_t *>(w) + static_cast<uint64_t>(r) * stride, stride,
                          static_cast<int>(std::min<int64_t>(k_rows, n_rows - r)));
        __m512          acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            prefetch_next_group<sizeof(block)>(g, static_cast<uint64_t>(b) * sizeof(block));
            __m512i z[8];
            q32_load<C>(g, b, z);
            const __m512i a = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs)));
            // Each row's eight lanes sum to sum((q + shift) * a); the correction is spread over
            // the lanes the same way, so the reduced lane is sum(q * a).
            const __m512i corr = _mm512_sub_epi32(
                _mm512_setzero_si512(),
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(C::shift)), a));
            for (int k = 0; k < 8; ++k) {
                z[k] = _mm512_dpbusd_epi32(corr, z[k], a);
            }
            const __m512i isum = sum_row_lanes<8>(z);
            const __m512  dwda = _mm512_mul_ps(C::scales(g, b), _mm512_set1_ps(f16_to_f32_x86(y[b].d)));
            acc                = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dwda, acc);
        }
        _mm512_mask_storeu_ps(out + r, g.mask(), acc);
    }
}

// A group's block repacked for many tokens: q[k] lane i = codes 4k..4k+3 of row i (+ shift).
struct alignas(64) q32_packed {
    __m512i q[8];
    __m512  dw;
};

template <typename C>
inline void q32_pack(const row_group & g, int64_t b, q32_packed & p) {
    __m512i z[8];
    q32_load<C>(g, b, z);
    transpose_16x8(z, p.q);
    p.dw = C::scales(g, b);
}

// A token's per-block constants, laid out once per call: the correction and the scale.
struct q32_token_block {
    int32_t corr;
    float   d;
};

// The tiles' accumulators: zero, and stored to out[t * out_stride + 16 g + i] for the real
// rows (those of the last group under `mask`).
template <int G, int T>
inline void zero(__m512 (&acc)[G][T]) {
    for (int g = 0; g < G; ++g) {
        for (int t = 0; t < T; ++t) {
            acc[g][t] = _mm512_setzero_ps();
        }
    }
}
template <int G, int T>
inline void store_rows(const __m512 (&acc)[G][T], uint16_t mask, float * out, int64_t out_stride) {
    for (int g = 0; g < G; ++g) {
        for (int t = 0; t < T; ++t) {
            _mm512_mask_storeu_ps(out + t * out_stride + k_rows * g, g == G - 1 ? mask : uint16_t{0xffff}, acc[g][t]);
        }
    }
}

// T tokens x G groups of 16 rows over all nb blocks (group g's packed blocks at xs + g * nb).
// The groups share each broadcast of a token's activations.
template <int T, int G>
inline void q32_tile(int64_t nb, const q32_packed * xs, const uint8_t * act, uint64_t act_stride,
                     const q32_token_block * tb, uint16_t mask, float * out, int64_t out_stride) {
    __m512 acc[G][T];
    zero(acc);
    for (int64_t b = 0; b < nb; ++b) {
        const auto at = static_cast<uint64_t>(b) * sizeof(block_q8_0) + offsetof(block_q8_0, qs);
        __m512i    isum[G][T];
        for (int t = 0; t < T; ++t) {
            const __m512i corr = _mm512_set1_epi32(tb[t * nb + b].corr);
            for (int g = 0; g < G; ++g) {
                isum[g][t] = corr;
            }
        }
        for (int k = 0; k < 8; ++k) {
            __m512i w[G];
            for (int g = 0; g < G; ++g) {
                w[g] = xs[g * nb + b].q[k];
            }
            for (int t = 0; t < T; ++t) {
                const __m512i a = _mm512_set1_epi32(
                    static_cast<int32_t>(load_u32(act + static_cast<uint64_t>(t) * act_stride + at + 4 * k)));
                for (int g = 0; g < G; ++g) {
                    isum[g][t] = _mm512_dpbusd_epi32(isum[g][t], w[g], a);
                }
            }
        }
        for (int t = 0; t < T; ++t) {
            const __m512 da = _mm512_set1_ps(tb[t * nb + b].d);
            for (int g = 0; g < G; ++g) {
                acc[g][t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[g][t]), _mm512_mul_ps(xs[g * nb + b].dw, da), acc[g][t]);
            }
        }
    }
    store_rows(acc, mask, out, out_stride);
}

// The 32-code types for the generic drivers below.
template <typename C>
struct q32_kind {
    using w_block                        = typename C::block;
    using a_block                        = block_q8_0;
    using packed                         = q32_packed;
    using token_block                    = q32_token_block;
    static constexpr int64_t k_unit      = QK8_0;
    static constexpr int     tile_tokens = 4;  // kernel lab (Q8_0): T 2..6 within 10%
    static constexpr int     tile_groups = 2;  // kernel lab: 1.06-1.10x one group
    static token_block       token(const block_q8_0 & y) { return {q32_correction<C>(y), f16_to_f32_x86(y.d)}; }
    static void              pack(const row_group & g, int64_t b, packed & p) { q32_pack<C>(g, b, p); }
    template <int T, int G>
    static constexpr auto tile = q32_tile<T, G>;
};

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
    const auto *  y  = static_cast<const block_q8_K *>(act);
    const int64_t nb = n / QK_K;
    for (int64_t r = 0; r < n_rows; r += k_rows) {
        const row_group g(static_cast<const uint8_t *>(w) + static_cast<uint64_t>(r) * stride, stride,
                          static_cast<int>(std::min<int64_t>(k_rows, n_rows - r)));
        __m512          acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            prefetch_next_group<sizeof(block)>(g, static_cast<uint64_t>(b) * sizeof(block));
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
            acc              = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dm, da), acc);
        }
        _mm512_mask_storeu_ps(out + r, g.mask(), acc);
    }
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
        const int lo = y.bsums[4 * p] + y.bsums[4 * p + 1], hi = y.bsums[4 * p + 2] + y.bsums[4 * p + 3];
        c.sums[p] = static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xffffu) | (static_cast<uint32_t>(hi) << 16));
    }
    return c;
}

// The dword transpose commutes with the byte-wise nibble split, so each 32-byte chunk of qs is
// transposed packed (two sub-blocks at once) and split after; Q5_K's qh is transposed once and
// gives sub-block j its fifth bits from bit j. The scales are unpacked as unpack_scales_k4_x86
// does, for 16 rows at once from three gathered dwords.
template <typename block, bool has_qh>
inline void q45_pack(const row_group & g, int64_t b, q45_packed & p) {
    const uint64_t at = static_cast<uint64_t>(b) * sizeof(block);
    __m512i        h[8];
    if constexpr (has_qh) {
        transposed_rows32(g, at + offsetof(block, qh), h);
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F), fifth = _mm512_set1_epi8(0x10);
    for (int c = 0; c < 4; ++c) {
        __m512i t[8];
        transposed_rows32(g, at + offsetof(block, qs) + 32 * static_cast<uint64_t>(c), t);
        for (int k = 0; k < 8; ++k) {
            __m512i lo = _mm512_and_si512(t[k], m4), hi = _mm512_and_si512(_mm512_srli_epi16(t[k], 4), m4);
            if constexpr (has_qh) {
                lo = _mm512_mask_add_epi8(
                    lo, _mm512_test_epi8_mask(h[k], _mm512_set1_epi8(static_cast<char>(1 << (2 * c)))), lo, fifth);
                hi = _mm512_mask_add_epi8(
                    hi, _mm512_test_epi8_mask(h[k], _mm512_set1_epi8(static_cast<char>(1 << (2 * c + 1)))), hi, fifth);
            }
            p.q[2 * c][k]     = lo;
            p.q[2 * c + 1][k] = hi;
        }
    }
    const uint8_t * sb  = g.x + at + offsetof(block, scales);
    const __m512i   u0  = _mm512_i32gather_epi32(g.off, sb, 1);
    const __m512i   u1  = _mm512_i32gather_epi32(g.off, sb + 4, 1);
    const __m512i   u2  = _mm512_i32gather_epi32(g.off, sb + 8, 1);
    const __m512i   k3f = _mm512_set1_epi32(0x3f3f3f3f), k0f = _mm512_set1_epi32(0x0f0f0f0f);
    const __m512i   k30   = _mm512_set1_epi32(0x30303030);
    const __m512i   sc_lo = _mm512_and_si512(u0, k3f);
    const __m512i   sc_hi = _mm512_or_si512(_mm512_and_si512(u2, k0f), _mm512_and_si512(_mm512_srli_epi32(u0, 2), k30));
    const __m512i   m_lo  = _mm512_and_si512(u1, k3f);
    const __m512i   m_hi  = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), k0f),
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
    const __m512i dd = _mm512_i32gather_epi32(g.off, g.x + at, 1);
    p.d              = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
    p.dmin           = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
}

// isum[g][t] += sum_s sc_s * dot(q_s, codes of sub-block s of token t) for the G groups'
// packed units x[g] (members q[S][D] and sc[S]): S sub-blocks of 4D codes, token t's at
// act + t * act_stride + at + 4D * s; exact in int32. The groups share each broadcast.
template <int T, int G, int S, int D, typename P>
inline void add_scaled_sub_block_dots(const P * const (&x)[G], const uint8_t * act, uint64_t act_stride, uint64_t at,
                                      __m512i (&isum)[G][T]) {
    for (int s = 0; s < S; ++s) {
        __m512i dot[G][T];
        for (int g = 0; g < G; ++g) {
            for (int t = 0; t < T; ++t) {
                dot[g][t] = _mm512_setzero_si512();
            }
        }
        for (int k = 0; k < D; ++k) {
            __m512i w[G];
            for (int g = 0; g < G; ++g) {
                w[g] = x[g]->q[s][k];
            }
            for (int t = 0; t < T; ++t) {
                const __m512i a = _mm512_set1_epi32(static_cast<int32_t>(
                    load_u32(act + static_cast<uint64_t>(t) * act_stride + at + 4 * D * s + 4 * k)));
                for (int g = 0; g < G; ++g) {
                    dot[g][t] = _mm512_dpbusd_epi32(dot[g][t], w[g], a);
                }
            }
        }
        for (int g = 0; g < G; ++g) {
            for (int t = 0; t < T; ++t) {
                isum[g][t] = _mm512_add_epi32(isum[g][t], _mm512_mullo_epi32(dot[g][t], x[g]->sc[s]));
            }
        }
    }
}

// T tokens x G groups of 16 rows over all nb super-blocks (group g's at xs + g * nb).
template <int T, int G>
inline void q45_tile(int64_t nb, const q45_packed * xs, const uint8_t * act, uint64_t act_stride,
                     const q45_token_block * tb, uint16_t mask, float * out, int64_t out_stride) {
    __m512 acc[G][T];
    zero(acc);
    for (int64_t b = 0; b < nb; ++b) {
        const q45_packed * x[G];
        __m512i            isum[G][T];
        for (int g = 0; g < G; ++g) {
            x[g] = xs + g * nb + b;
            for (int t = 0; t < T; ++t) {
                isum[g][t] = _mm512_setzero_si512();
            }
        }
        const auto at = static_cast<uint64_t>(b) * sizeof(block_q8_K) + offsetof(block_q8_K, qs);
        add_scaled_sub_block_dots<T, G, 8, 8>(x, act, act_stride, at, isum);
        for (int t = 0; t < T; ++t) {
            const q45_token_block & c  = tb[t * nb + b];
            const __m512            da = _mm512_set1_ps(c.d);
            for (int g = 0; g < G; ++g) {
                __m512i msum = _mm512_setzero_si512();
                for (int q = 0; q < 4; ++q) {
                    msum = _mm512_dpwssd_epi32(msum, x[g]->mins[q], _mm512_set1_epi32(c.sums[q]));
                }
                acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[g][t]), _mm512_mul_ps(x[g]->d, da), acc[g][t]);
                acc[g][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(x[g]->dmin, da), acc[g][t]);
            }
        }
    }
    store_rows(acc, mask, out, out_stride);
}

template <typename block, bool has_qh>
struct q45_kind {
    using w_block                        = block;
    using a_block                        = block_q8_K;
    using packed                         = q45_packed;
    using token_block                    = q45_token_block;
    static constexpr int64_t k_unit      = QK_K;
    static constexpr int     tile_tokens = 6;  // kernel lab: T 4, 6, 8 within 8%
    static constexpr int     tile_groups = 2;  // kernel lab: 1.03-1.08x one group
    static token_block       token(const block_q8_K & y) { return q45_token(y); }
    static void              pack(const row_group & g, int64_t b, packed & p) { q45_pack<block, has_qh>(g, b, p); }
    template <int T, int G>
    static constexpr auto tile = q45_tile<T, G>;
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
    const auto *  y  = static_cast<const block_q8_K *>(act);
    const int64_t nb = n / QK_K;
    for (int64_t r = 0; r < n_rows; r += k_rows) {
        const row_group g(static_cast<const uint8_t *>(w) + static_cast<uint64_t>(r) * stride, stride,
                          static_cast<int>(std::min<int64_t>(k_rows, n_rows - r)));
        __m512          acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            prefetch_next_group<sizeof(block_q6_K)>(g, static_cast<uint64_t>(b) * sizeof(block_q6_K));
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
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(q6_scales16(g, b), _mm512_set1_ps(y[b].d)),
                                  acc);
        }
        _mm512_mask_storeu_ps(out + r, g.mask(), acc);
    }
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

// A token's per-super-block constants: its scale and its 16 sums of 16 codes in int16 pairs.
struct q6_token_block {
    float   d;
    int32_t sums[8];
};

inline q6_token_block q6_token(const block_q8_K & y) {
    q6_token_block c{y.d, {}};
    for (int p = 0; p < 8; ++p) {
        c.sums[p] = static_cast<int32_t>((static_cast<uint32_t>(y.bsums[2 * p]) & 0xffffu) |
                                         (static_cast<uint32_t>(y.bsums[2 * p + 1]) << 16));
    }
    return c;
}

// Elements 128h + 32m + l (quarter m of half h) take the low (m < 2) or high nibble of
// ql[64h + 32(m % 2) + l] and bits 2m, 2m + 1 of qh[32h + l]; the dword transposes commute
// with these byte-wise steps, so ql and qh are transposed packed.
inline void q6_pack(const row_group & g, int64_t b, q6_packed & p) {
    const uint64_t at = static_cast<uint64_t>(b) * sizeof(block_q6_K);
    const __m512i  m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x03);
    for (int h = 0; h < 2; ++h) {
        __m512i ql[2][8], qh[8];
        transposed_rows32(g, at + offsetof(block_q6_K, ql) + 64 * static_cast<uint64_t>(h), ql[0]);
        transposed_rows32(g, at + offsetof(block_q6_K, ql) + 64 * static_cast<uint64_t>(h) + 32, ql[1]);
        transposed_rows32(g, at + offsetof(block_q6_K, qh) + 32 * static_cast<uint64_t>(h), qh);
        for (int m = 0; m < 4; ++m) {
            for (int k = 0; k < 8; ++k) {
                const __m512i l  = ql[m % 2][k];
                const __m512i lo = m < 2 ? _mm512_and_si512(l, m4) : _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
                const __m512i hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh[k], 2 * m), m3), 4);
                // Element 128h + 32m + 4k + j: sub-block 8h + 2m + k / 4, dword k % 4.
                p.q[8 * h + 2 * m + k / 4][k % 4] = _mm512_or_si512(lo, hi);
            }
        }
    }
    // The sixteen int8 scales of each row: four gathered dwords, sign-extended byte by byte.
    const uint8_t * sb = g.x + at + offsetof(block_q6_K, scales);
    for (int q = 0; q < 4; ++q) {
        const __m512i v = _mm512_i32gather_epi32(g.off, sb + 4 * q, 1);
        for (int j = 0; j < 4; ++j) {
            p.sc[4 * q + j] = _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * j), 24);
        }
    }
    for (int q = 0; q < 8; ++q) {
        p.scp[q] = _mm512_or_si512(_mm512_and_si512(p.sc[2 * q], _mm512_set1_epi32(0xffff)),
                                   _mm512_slli_epi32(p.sc[2 * q + 1], 16));
    }
    p.d = q6_scales16(g, b);
}

// T tokens x G groups of 16 rows over all nb super-blocks (group g's at xs + g * nb).
template <int T, int G>
inline void q6_tile(int64_t nb, const q6_packed * xs, const uint8_t * act, uint64_t act_stride,
                    const q6_token_block * tb, uint16_t mask, float * out, int64_t out_stride) {
    __m512 acc[G][T];
    zero(acc);
    for (int64_t b = 0; b < nb; ++b) {
        const q6_packed * x[G];
        __m512i           isum[G][T];
        for (int g = 0; g < G; ++g) {
            x[g] = xs + g * nb + b;
            for (int t = 0; t < T; ++t) {
                // -32 * sum_s sc_s * sum(a_s), then the sub-blocks' dot products on top.
                const q6_token_block & c    = tb[t * nb + b];
                __m512i                corr = _mm512_setzero_si512();
                for (int q = 0; q < 8; ++q) {
                    corr = _mm512_dpwssd_epi32(corr, x[g]->scp[q], _mm512_set1_epi32(c.sums[q]));
                }
                isum[g][t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(corr, 5));
            }
        }
        const auto at = static_cast<uint64_t>(b) * sizeof(block_q8_K) + offsetof(block_q8_K, qs);
        add_scaled_sub_block_dots<T, G, 16, 4>(x, act, act_stride, at, isum);
        for (int t = 0; t < T; ++t) {
            const __m512 da = _mm512_set1_ps(tb[t * nb + b].d);
            for (int g = 0; g < G; ++g) {
                acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[g][t]), _mm512_mul_ps(x[g]->d, da), acc[g][t]);
            }
        }
    }
    store_rows(acc, mask, out, out_stride);
}

struct q6_kind {
    using w_block                        = block_q6_K;
    using a_block                        = block_q8_K;
    using packed                         = q6_packed;
    using token_block                    = q6_token_block;
    static constexpr int64_t k_unit      = QK_K;
    static constexpr int     tile_tokens = 6;
    static constexpr int     tile_groups = 1;  // kernel lab: two groups 0.9-1.0x
    static token_block       token(const block_q8_K & y) { return q6_token(y); }
    static void              pack(const row_group & g, int64_t b, packed & p) { q6_pack(g, b, p); }
    template <int T, int G>
    static constexpr auto tile = q6_tile<T, G>;
};

// ---- the many-token driver, one for every kind K ----

// Tokens [0, n_tok) in tiles of T, the rest with smaller T.
template <typename K, int T, int G>
inline void tokens(int64_t nb, const typename K::packed * xs, const uint8_t * act, uint64_t act_stride,
                   const typename K::token_block * tb, int64_t n_tok, uint16_t mask, float * out, int64_t out_stride) {
    int64_t t = 0;
    for (; t + T <= n_tok; t += T) {
        K::template tile<T, G>(nb, xs, act + static_cast<uint64_t>(t) * act_stride, act_stride, tb + t * nb, mask,
                               out + t * out_stride, out_stride);
    }
    if constexpr (T > 1) {
        if (t < n_tok) {
            tokens<K, T - 1, G>(nb, xs, act + static_cast<uint64_t>(t) * act_stride, act_stride, tb + t * nb, n_tok - t,
                                mask, out + t * out_stride, out_stride);
        }
    }
}

template <typename K>
inline bool repacks(int64_t n, int64_t n_tok) {
    return n_tok >= k_min_tokens && n % K::k_unit == 0;
}

// Scratch of dot_tile<K>: up to two groups' packed units and every token's constants.
template <typename K>
uint64_t tile_scratch(int64_t n, int64_t n_tok) {
    if (!repacks<K>(n, n_tok)) {
        return 0;
    }
    const auto nb = static_cast<uint64_t>(n / K::k_unit);
    return 2 * nb * sizeof(typename K::packed) + nb * static_cast<uint64_t>(n_tok) * sizeof(typename K::token_block);
}

// out[t * out_stride + r] = dot(row r, token t): rows are packed G groups of 16 at a time (two
// groups share each activation broadcast; a last group of 16 or fewer goes alone), then run
// against the tokens in tiles of T. Below k_min_tokens, dot_rows token by token.
template <typename K, void (*dot_rows)(int64_t, const void *, uint64_t, int64_t, const void *, float *),
          int T = K::tile_tokens, int G = K::tile_groups>
void dot_tile(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, uint64_t act_stride,
              int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    if (!repacks<K>(n, n_tok)) {
        dot_rows_per_token(dot_rows, n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride);
        return;
    }
    using packed      = typename K::packed;
    using token_block = typename K::token_block;
    const int64_t nb  = n / K::k_unit;
    auto *        xs  = static_cast<packed *>(scratch);
    auto *        tb  = reinterpret_cast<token_block *>(xs + 2 * nb);
    const auto *  ab  = static_cast<const uint8_t *>(act);
    for (int64_t t = 0; t < n_tok; ++t) {
        const auto * y = reinterpret_cast<const typename K::a_block *>(ab + static_cast<uint64_t>(t) * act_stride);
        for (int64_t b = 0; b < nb; ++b) {
            tb[t * nb + b] = K::token(y[b]);
        }
    }
    const auto *  wb            = static_cast<const uint8_t *>(w);
    const auto    os            = static_cast<int64_t>(out_stride);
    const int64_t lines_per_row = (nb * static_cast<int64_t>(sizeof(typename K::w_block)) + 63) / 64;
    const int64_t n_tiles       = n_tok / T;
    // Rows [r, r + 16 g) as g groups: packed, then every token.
    const auto run = [&]<int g>(int64_t r) {
        int rows = 0;
        for (int i = 0; i < g; ++i) {
            const row_group grp(wb + static_cast<uint64_t>(r + k_rows * i) * stride, stride,
                                static_cast<int>(std::min<int64_t>(k_rows, n_rows - r - k_rows * i)));
            for (int64_t b = 0; b < nb; ++b) {
                K::pack(grp, b, xs[i * nb + b]);
            }
            rows += grp.n;
        }
        const auto mask = static_cast<uint16_t>((1u << (rows - k_rows * (g - 1))) - 1u);
        // The next rows are fetched a few lines after each tile (the pack reads them in a burst
        // and would otherwise wait on memory).
        const int64_t next_rows = std::clamp<int64_t>(n_rows - (r + k_rows * g), 0, k_rows * g);
        const int64_t lines = next_rows * lines_per_row, per_tile = n_tiles > 0 ? (lines + n_tiles - 1) / n_tiles : 0;
        int64_t       line = 0;
        for (int64_t i = 0; i < n_tiles; ++i) {
            K::template tile<T, g>(nb, xs, ab + static_cast<uint64_t>(i * T) * act_stride, act_stride, tb + i * T * nb,
                                   mask, out + r + i * T * os, os);
            for (const int64_t end = std::min(lines, line + per_tile); line < end; ++line) {
                const uint8_t * row = wb + static_cast<uint64_t>(r + k_rows * g + line / lines_per_row) * stride;
                _mm_prefetch(reinterpret_cast<const char *>(row + 64 * (line % lines_per_row)), _MM_HINT_T0);
            }
        }
        if (n_tiles * T < n_tok) {
            tokens<K, T - 1, g>(nb, xs, ab + static_cast<uint64_t>(n_tiles * T) * act_stride, act_stride,
                                tb + n_tiles * T * nb, n_tok - n_tiles * T, mask, out + r + n_tiles * T * os, os);
        }
    };
    int64_t r = 0;
    if constexpr (G == 2) {
        for (; r + k_rows < n_rows; r += 2 * k_rows) {
            run.template operator()<2>(r);
        }
    }
    for (; r < n_rows; r += k_rows) {
        run.template operator()<1>(r);
    }
}

}  // namespace lanes
}  // namespace
}  // namespace sluice::kern
#endif
