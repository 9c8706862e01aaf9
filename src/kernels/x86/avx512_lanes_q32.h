// AVX-512 row-lanes kernels (avx512_row_lanes.h) of the 32-code blocks with Q8_0 activations:
// Q8_0, Q4_0, Q5_0, IQ4_NL and MXFP4.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_row_lanes.h"
#include "tensor/iq_tables.h"

#include <type_traits>

namespace sluice::kern {
namespace {
namespace lanes {

using namespace x86;

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
    using scale                = uint16_t;  // F16, as stored
    static constexpr int shift = 128;       // xor 0x80
    static __m256i       codes(const block & x) {
              return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs)), _mm256_set1_epi8(-128));
    }
    static __m512 scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_q4_0 {
    using block                = block_q4_0;
    using scale                = uint16_t;
    static constexpr int shift = 8;  // stored as q, value q - 8
    static __m256i       codes(const block & x) { return nibbles32(x.qs); }
    static __m512        scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_q5_0 {
    using block                = block_q5_0;
    using scale                = uint16_t;
    static constexpr int shift = 16;
    static __m256i       codes(const block & x) {  // bit 4 of element j is bit j of qh
        const __m256i c = nibbles32(x.qs);
        return _mm256_mask_add_epi8(c, load_u32(x.qh), c, _mm256_set1_epi8(0x10));
    }
    static __m512 scales(const row_group & g, int64_t b) { return f16_scales16<block>(g, b); }
};

struct c_iq4_nl {
    using block                = block_iq4_nl;
    using scale                = uint16_t;
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
    using scale                = float;  // E8M0 halved: beyond F16's range
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
    const auto * y = static_cast<const block_q8_0 *>(act);
    dot_rows_by_group<sizeof(typename C::block)>(
        n / QK8_0, w, stride, n_rows, out, [&](const row_group & g, int64_t b, __m512 acc) {
            __m512i z[8];
            q32_load<C>(g, b, z);
            const __m512i a = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs)));
            // Each row's eight lanes sum to sum((q + shift) * a); the correction is spread over the
            // lanes the same way, so the reduced lane is sum(q * a).
            const __m512i corr = _mm512_sub_epi32(
                _mm512_setzero_si512(),
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(C::shift)), a));
            for (int k = 0; k < 8; ++k) {
                z[k] = _mm512_dpbusd_epi32(corr, z[k], a);
            }
            const __m512i isum = sum_row_lanes<8>(z);
            const __m512  dwda = _mm512_mul_ps(C::scales(g, b), _mm512_set1_ps(f16_to_f32_x86(y[b].d)));
            return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dwda, acc);
        });
}

// A group's block repacked for many tokens: q[k] lane i = codes 4k..4k+3 of row i (+ shift).
struct alignas(64) q32_packed {
    __m512i q[8];
    __m512  dw;
};

// The same, stored: the transposed codes and the rows' scales as C keeps them (F16, or float
// for MXFP4). Q8_0's is size-neutral (16 x 34 bytes), so a matrix can be packed at load.
template <typename S>
struct q32_stored {
    uint8_t q[8][64];
    S       d[k_rows];
};

template <typename C>
inline void q32_store(const row_group & g, int64_t b, q32_stored<typename C::scale> & s) {
    __m512i z[8], t[8];
    q32_load<C>(g, b, z);
    transpose_16x8(z, t);
    for (int k = 0; k < 8; ++k) {
        _mm512_storeu_si512(s.q[k], t[k]);
    }
    if constexpr (std::is_same_v<typename C::scale, float>) {
        _mm512_storeu_ps(s.d, C::scales(g, b));
    } else {  // F16 -> float -> F16 is exact
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(s.d),
                            _mm512_cvtps_ph(C::scales(g, b), _MM_FROUND_TO_NEAREST_INT));
    }
}

template <typename S>
inline void q32_unpack(const q32_stored<S> & s, q32_packed & p) {
    for (int k = 0; k < 8; ++k) {
        p.q[k] = _mm512_loadu_si512(s.q[k]);
    }
    if constexpr (std::is_same_v<S, float>) {
        p.dw = _mm512_loadu_ps(s.d);
    } else {
        p.dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(s.d)));
    }
}

// What the tile reads of a group's block, from either form: code dwords k (lane i: codes
// 4k..4k+3 of row i, + shift) and the 16 rows' scales.
inline __m512i q32_codes(const q32_packed & p, int k) {
    return p.q[k];
}
inline __m512 q32_scales(const q32_packed & p) {
    return p.dw;
}
template <typename S>
inline __m512i q32_codes(const q32_stored<S> & s, int k) {
    return _mm512_loadu_si512(s.q[k]);
}
template <typename S>
inline __m512 q32_scales(const q32_stored<S> & s) {
    if constexpr (std::is_same_v<S, float>) {
        return _mm512_loadu_ps(s.d);
    } else {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(s.d)));
    }
}

// A token's per-block constants, laid out once per call: the correction and the scale.
struct q32_token_block {
    int32_t corr;
    float   d;
};

// T tokens x G groups of 16 rows over all nb blocks (units(b, x): group g's block b at x[g]).
// The groups share each broadcast of a token's activations.
template <int T, int G, typename U>
inline void q32_tile(int64_t nb, const U & units, const uint8_t * act, uint64_t act_stride, const q32_token_block * tb,
                     uint16_t mask, float * out, int64_t out_stride) {
    __m512 acc[G][T];
    zero(acc);
    for (int64_t b = 0; b < nb; ++b) {
        const typename U::unit * x[G];
        units(b, x);
        // P independent sums per (group, token) where T x G alone gives too few chains to hide
        // vpdpbusd's latency (one token: decode); integer sums, so the order changes no bit.
        constexpr int P = chains_per_sum(T * G);
        __m512i       isum[P][G][T];
        for (int t = 0; t < T; ++t) {
            const __m512i corr = _mm512_set1_epi32(tb[t * nb + b].corr);
            for (int g = 0; g < G; ++g) {
                isum[0][g][t] = corr;
                for (int p = 1; p < P; ++p) {
                    isum[p][g][t] = _mm512_setzero_si512();
                }
            }
        }
        const auto at = static_cast<uint64_t>(b) * sizeof(block_q8_0) + offsetof(block_q8_0, qs);
        for (int k = 0; k < 8; ++k) {
            __m512i w[G];
            for (int g = 0; g < G; ++g) {
                w[g] = q32_codes(*x[g], k);
            }
            for (int t = 0; t < T; ++t) {
                const __m512i a = _mm512_set1_epi32(
                    static_cast<int32_t>(load_u32(act + static_cast<uint64_t>(t) * act_stride + at + 4 * k)));
                for (int g = 0; g < G; ++g) {
                    isum[k % P][g][t] = _mm512_dpbusd_epi32(isum[k % P][g][t], w[g], a);
                }
            }
        }
        add_chains(isum);
        __m512 dw[G];
        for (int g = 0; g < G; ++g) {
            dw[g] = q32_scales(*x[g]);
        }
        for (int t = 0; t < T; ++t) {
            const __m512 da = _mm512_set1_ps(tb[t * nb + b].d);
            for (int g = 0; g < G; ++g) {
                acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[0][g][t]), _mm512_mul_ps(dw[g], da), acc[g][t]);
            }
        }
    }
    store_rows(acc, mask, out, out_stride);
}

// The 32-code types for the generic drivers below.
template <typename C>
struct q32_kind {
    using w_block                            = typename C::block;
    using a_block                            = block_q8_0;
    using packed                             = q32_packed;
    using stored                             = q32_stored<typename C::scale>;
    using token_block                        = q32_token_block;
    static constexpr int64_t k_unit          = QK8_0;
    static constexpr int     tile_tokens     = 4;   // kernel lab (Q8_0): T 2..6 within 10%
    static constexpr int     tile_groups     = 2;   // kernel lab: 1.06-1.10x one group
    static constexpr int     few_tokens      = 15;  // dot_packed: one group at a time (from 16, G 2, T 6)
    static constexpr int     few_tile_tokens = 8;
    // The tile reads the stored form in place (codes already as it reads them; the F16 scales
    // converted per block): no unpack pass before the products (dot_packed).
    static constexpr bool tile_reads_stored = true;
    static token_block    token(const block_q8_0 & y) { return {q32_correction<C>(y), f16_to_f32_x86(y.d)}; }
    static void           store(const row_group & g, int64_t b, stored & s) { q32_store<C>(g, b, s); }
    static void           unpack(const stored & s, packed & p) { q32_unpack(s, p); }
    template <int T, int G, typename U>
    static void tile(int64_t nb, const U & units, const uint8_t * act, uint64_t act_stride, const token_block * tb,
                     uint16_t mask, float * out, int64_t out_stride) {
        q32_tile<T, G>(nb, units, act, act_stride, tb, mask, out, out_stride);
    }
};

}  // namespace lanes
}  // namespace
}  // namespace sluice::kern
#endif
