// AVX-512 dot products of the i-quants and ternary types with Q8_K activations: the integer sums
// of the scalar reference (ref_dot_iq.cpp), 64 elements per step, scaled once per block:
//   acc += (da * d * factor) * sum_sub sc[sub] * sum_{i in sub} q[i] * a[i]
// Grid types: eight 8-byte (or sixteen 4-byte) grid entries give 64 unsigned magnitudes; the
// weights' sign bits are a 64-bit mask that negates the activations (mask_sub), maddubs
// multiplies (u8 x s8 -> s16 pairs, no saturation: magnitudes <= 62, IQ4_XS <= 127) and VNNI
// dpwssd applies the int16 scale of every 16 elements into int32 lanes. Ternary types take
// their digits 0..2 straight into dpbusd and the -1 back out through the bsums. Four rows share
// each block's activation loads (and their regrouping); a row's arithmetic is the same alone.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"
#include "tensor/iq_tables.h"

namespace sluice::kern {
namespace {

using namespace x86;

inline __m512i load512(const void * p) {
    return _mm512_loadu_si512(p);
}
inline uint64_t load_u64(const void * p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// Eight grid entries as 64 magnitudes (entry l: elements 8l..8l+7).
template <typename I>
inline __m512i grid8(const uint64_t * grid, const I * idx) {
    return _mm512_setr_epi64(static_cast<long long>(grid[idx[0]]), static_cast<long long>(grid[idx[1]]),
                             static_cast<long long>(grid[idx[2]]), static_cast<long long>(grid[idx[3]]),
                             static_cast<long long>(grid[idx[4]]), static_cast<long long>(grid[idx[5]]),
                             static_cast<long long>(grid[idx[6]]), static_cast<long long>(grid[idx[7]]));
}
// Sixteen 4-value entries (IQ3).
template <typename I>
inline __m512i grid16(const uint32_t * grid, const I * idx) {
    return _mm512_setr_epi32(
        static_cast<int>(grid[idx[0]]), static_cast<int>(grid[idx[1]]), static_cast<int>(grid[idx[2]]),
        static_cast<int>(grid[idx[3]]), static_cast<int>(grid[idx[4]]), static_cast<int>(grid[idx[5]]),
        static_cast<int>(grid[idx[6]]), static_cast<int>(grid[idx[7]]), static_cast<int>(grid[idx[8]]),
        static_cast<int>(grid[idx[9]]), static_cast<int>(grid[idx[10]]), static_cast<int>(grid[idx[11]]),
        static_cast<int>(grid[idx[12]]), static_cast<int>(grid[idx[13]]), static_cast<int>(grid[idx[14]]),
        static_cast<int>(grid[idx[15]]));
}

// isum += sum over 64 elements of mag * (a, negated where `neg` has a bit), times the int16
// scale of each element's 16-group (scales: int16 lanes 8j..8j+7 for elements 16j..16j+15).
inline __m512i signed_dot(__m512i isum, __m512i mag, uint64_t neg, __m512i a, __m512i scales) {
    const __m512i as = _mm512_mask_sub_epi8(a, _cvtu64_mask64(neg), _mm512_setzero_si512(), a);
    return _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(mag, as), scales);
}
// The same with signed codes q (q != -128).
inline __m512i codes_dot(__m512i isum, __m512i q, __m512i a, __m512i scales) {
    const __m512i as = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(q), _mm512_setzero_si512(), a);
    return _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(_mm512_abs_epi8(q), as), scales);
}

// One scale per 32 elements: s0 for the first 32 of the 64, s1 for the rest.
inline __m512i scales32(int s0, int s1) {
    return _mm512_mask_set1_epi16(_mm512_set1_epi16(static_cast<int16_t>(s0)), 0xFFFF0000u, static_cast<int16_t>(s1));
}
// One scale per 16 elements: the 16 int16 scales of a block in sc16, quarter k's four of them
// spread over lanes 8j..8j+7.
inline __m512i scales16(__m256i sc16, int k) {
    const auto    rep = [](int s) { return static_cast<long long>(0x0001000100010001ull * static_cast<uint64_t>(s)); };
    const int     s   = 4 * k;
    const __m512i idx =
        _mm512_setr_epi64(rep(s), rep(s), rep(s + 1), rep(s + 1), rep(s + 2), rep(s + 2), rep(s + 3), rep(s + 3));
    return _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(sc16));
}
// Sixteen 4-bit scales (byte j: sub-blocks 2j, 2j+1 in its low, high nibble) -> 2s + 1 as int16.
inline __m256i odd_scales_from_nibbles(uint64_t s) {
    const __m128i lo = _mm_cvtsi64_si128(static_cast<long long>(s & 0x0f0f0f0f0f0f0f0full));
    const __m128i hi = _mm_cvtsi64_si128(static_cast<long long>((s >> 4) & 0x0f0f0f0f0f0f0f0full));
    const __m256i v  = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(lo, hi));
    return _mm256_add_epi16(_mm256_add_epi16(v, v), _mm256_set1_epi16(1));
}

// The block's activations as four quarters of 64.
struct act_plain {
    __m512i q[4];
    explicit act_plain(const block_q8_K & y) {
        for (int k = 0; k < 4; ++k) {
            q[k] = load512(y.qs + 64 * k);
        }
    }
};

// Per-32 odd scales 2s + 1 from the IQ2_XXS / IQ3_XXS aux words, as int32 lanes of a zmm whose
// int16 view has s_ib at lane 2ib; quarter k spreads its two over lanes 0..15 and 16..31.
inline __m512i odd_scales_from_aux(__m256i aux) {
    const __m256i s = _mm256_srli_epi32(aux, 28);
    return _mm512_castsi256_si512(_mm256_add_epi32(_mm256_add_epi32(s, s), _mm256_set1_epi32(1)));
}
inline __m512i scales32_of(__m512i sc, int k) {
    const __m512i idx = _mm512_mask_set1_epi16(_mm512_set1_epi16(static_cast<int16_t>(4 * k)), 0xFFFF0000u,
                                               static_cast<int16_t>(4 * k + 2));
    return _mm512_permutexvar_epi16(idx, sc);
}

struct t_iq2_xxs {
    using block = block_iq2_xxs;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        const auto *         qs  = reinterpret_cast<const uint8_t *>(x.qs);
        const __m256i        aux = aux_iq2_xxs_x86(qs);
        alignas(32) uint64_t neg[4];
        _mm256_store_si256(reinterpret_cast<__m256i *>(neg), signs_from_aux_x86(aux));
        const __m512i sc  = odd_scales_from_aux(aux);
        __m512i       sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            // sub-blocks 2k, 2k+1: four grid bytes, then a u32 of 4 x 7 sign bits and the scale
            const uint8_t * p      = qs + 16 * k;
            const int       idx[8] = {p[0], p[1], p[2], p[3], p[8], p[9], p[10], p[11]};
            sum                    = signed_dot(sum, grid8(iq2xxs_grid, idx), neg[k], a.q[k], scales32_of(sc, k));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq2_xs {
    using block = block_iq2_xs;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        const __m256i        sc16 = odd_scales_from_nibbles(load_u64(x.scales));
        alignas(32) uint64_t negs[4];
        _mm256_store_si256(reinterpret_cast<__m256i *>(negs), signs_iq2_xs_x86(x.qs));
        __m512i sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            const uint64_t q0 = load_u64(x.qs + 8 * k), q1 = load_u64(x.qs + 8 * k + 4);
            const int      idx[8] = {static_cast<int>(q0 & 511),         static_cast<int>((q0 >> 16) & 511),
                                     static_cast<int>((q0 >> 32) & 511), static_cast<int>((q0 >> 48) & 511),
                                     static_cast<int>(q1 & 511),         static_cast<int>((q1 >> 16) & 511),
                                     static_cast<int>((q1 >> 32) & 511), static_cast<int>((q1 >> 48) & 511)};
            sum                   = signed_dot(sum, grid8(iq2xs_grid, idx), negs[k], a.q[k], scales16(sc16, k));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq2_s {
    using block = block_iq2_s;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        const __m256i        sc16  = odd_scales_from_nibbles(load_u64(x.scales));
        const uint8_t *      signs = x.qs + QK_K / 8;
        alignas(32) uint16_t ids[QK_K / 8];
        iq2_s_indices(x, ids);
        __m512i sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            const uint16_t * q      = ids + 8 * k;
            const int        idx[8] = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
            sum = signed_dot(sum, grid8(iq2s_grid, idx), load_u64(signs + 8 * k), a.q[k], scales16(sc16, k));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq3_xxs {
    using block = block_iq3_xxs;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        const __m256i        aux = load256(x.qs + QK_K / 4);  // per 32: 4 x 7 sign bits, the scale on top
        alignas(32) uint64_t neg[4];
        _mm256_store_si256(reinterpret_cast<__m256i *>(neg), signs_from_aux_x86(aux));
        const __m512i sc  = odd_scales_from_aux(aux);
        __m512i       sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            sum = signed_dot(sum, grid16(iq3xxs_grid, x.qs + 16 * k), neg[k], a.q[k], scales32_of(sc, k));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.25f; }
};

struct t_iq3_s {
    using block = block_iq3_s;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        alignas(32) uint16_t idx[QK_K / 4];
        iq3_s_indices(x, idx);
        __m512i sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            const int s = x.scales[k];
            sum         = signed_dot(sum, grid16(iq3s_grid, idx + 16 * k), load_u64(x.signs + 8 * k), a.q[k],
                                     scales32(2 * (s & 0xf) + 1, 2 * (s >> 4) + 1));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d); }
};

// IQ1: codes 8 * g + delta, g in {-1, 0, 1} (the grid's signed bytes), delta = +-1.
inline __m512i iq1_codes(__m512i g, __m512i delta) {
    const __m512i g2 = _mm512_add_epi8(g, g), g4 = _mm512_add_epi8(g2, g2);
    return _mm512_add_epi8(_mm512_add_epi8(g4, g4), delta);
}

struct t_iq1_s {
    using block = block_iq1_s;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        alignas(32) uint16_t idx[QK_K / 8];
        iq1_s_indices(x, idx);
        __m512i sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            const int h0 = x.qh[2 * k], h1 = x.qh[2 * k + 1];
            // delta sign per 32 (bit 15), scale per 32 (bits 12..14)
            const __m512i delta = _mm512_mask_set1_epi8(_mm512_set1_epi8((h0 & 0x8000) ? -1 : 1), 0xFFFFFFFF00000000ull,
                                                        (h1 & 0x8000) ? -1 : 1);
            sum                 = codes_dot(sum, iq1_codes(grid8(iq1s_grid, idx + 8 * k), delta), a.q[k],
                                            scales32(2 * ((h0 >> 12) & 7) + 1, 2 * ((h1 >> 12) & 7) + 1));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq1_m {
    using block = block_iq1_m;
    using act   = act_plain;
    static __m512i isum(const block & x, const act & a) {
        // 3-bit scales: u16 j holds those of elements 64j + 16i (bits 3i..3i+2), i < 4
        const __m256i sv = _mm256_set1_epi64x(static_cast<long long>(load_u64(x.scales)));
        const __m256i rep =
            _mm256_permutexvar_epi16(_mm256_setr_epi16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), sv);
        const __m256i s3 =
            _mm256_and_si256(_mm256_srlv_epi16(rep, _mm256_setr_epi16(0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9)),
                             _mm256_set1_epi16(7));
        const __m256i        sc16 = _mm256_add_epi16(_mm256_add_epi16(s3, s3), _mm256_set1_epi16(1));
        alignas(32) uint16_t idx[QK_K / 8];
        alignas(32) uint8_t  delta[QK_K / 8];  // -1 / +1 per group of 8
        iq1_m_indices(x, idx, delta);
        // bytes 8l..8l+7 of quarter k's delta vector take delta[8k + l]
        const __m512i spread =
            _mm512_setr_epi64(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303,
                              0x0404040404040404, 0x0505050505050505, 0x0606060606060606, 0x0707070707070707);
        __m512i sum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
            // every 64-bit lane holds the 8 bytes, so each 128-bit lane can pick its two
            const __m512i dv =
                _mm512_shuffle_epi8(_mm512_set1_epi64(static_cast<long long>(load_u64(delta + 8 * k))), spread);
            sum = codes_dot(sum, iq1_codes(grid8(iq1s_grid, idx + 8 * k), dv), a.q[k], scales16(sc16, k));
        }
        return sum;
    }
    static float scale(const block & x) {
        uint16_t sc[4];
        std::memcpy(sc, x.scales, sizeof sc);
        const auto d16 =
            static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        return f16_to_f32_x86(d16) * 0.125f;
    }
};

// IQ4_XS: 64 bytes of qs hold sub-blocks 4h..4h+3, one per 128-bit lane, elements 0..15 in the
// low nibbles and 16..31 in the high ones; the activations are regrouped to match.
struct act_iq4_xs {
    __m512i lo[2], hi[2];
    explicit act_iq4_xs(const block_q8_K & y) {
        for (int h = 0; h < 2; ++h) {
            const __m512i a0 = load512(y.qs + 128 * h), a1 = load512(y.qs + 128 * h + 64);
            lo[h] = _mm512_shuffle_i64x2(a0, a1, 0x88);  // 128-bit lanes 0, 2 of each
            hi[h] = _mm512_shuffle_i64x2(a0, a1, 0xDD);  // lanes 1, 3
        }
    }
};

struct t_iq4_xs {
    using block = block_iq4_xs;
    using act   = act_iq4_xs;
    static __m512i isum(const block & x, const act & a) {
        const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kvalues_iq4nl)));
        const __m512i m4    = _mm512_set1_epi8(0x0f);
        // 6-bit scales minus 32, one per sub-block of 32, int32: sub-block ib is int16 lane 2ib
        const __m512i scv = _mm512_castsi256_si512(iq4_xs_scales_x86(x));
        __m512i       sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            const __m512i q = load512(x.qs + 64 * h);
            // int16 lanes 8j..8j+7 (128-bit lane j) take sub-block 4h + j's scale
            const auto    rep = [](int ib) { return static_cast<long long>(0x0001000100010001ull * (2 * ib)); };
            const __m512i s   = _mm512_permutexvar_epi16(
                  _mm512_setr_epi64(rep(4 * h), rep(4 * h), rep(4 * h + 1), rep(4 * h + 1), rep(4 * h + 2),
                                    rep(4 * h + 2), rep(4 * h + 3), rep(4 * h + 3)),
                  scv);
            sum = codes_dot(sum, _mm512_shuffle_epi8(table, _mm512_and_si512(q, m4)), a.lo[h], s);
            sum = codes_dot(sum, _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4)), a.hi[h], s);
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d); }
};

// ---- ternary types: digits 0..2 in dpbusd, minus the sum of the activations ----

inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The sum of the activation's 256 codes, negated, spread over 8 int32 lanes (dpbusd's start).
inline __m512i neg_act_sum(const block_q8_K & y) {
    const __m256i s = _mm256_madd_epi16(load256(y.bsums), _mm256_set1_epi16(-1));
    return _mm512_zextsi256_si512(s);
}

// TQ2_0: the 64 bytes of qs shifted by 2l give elements 32l + [0, 32) in the low half and
// 128 + 32l + [0, 32) in the high half.
struct act_tq2_0 {
    __m512i q[4];
    __m512i start;
    explicit act_tq2_0(const block_q8_K & y) {
        for (int l = 0; l < 4; ++l) {
            q[l] = join(load256(y.qs + 32 * l), load256(y.qs + 128 + 32 * l));
        }
        start = neg_act_sum(y);
    }
};

struct t_tq2_0 {
    using block = block_tq2_0;
    using act   = act_tq2_0;
    static __m512i isum(const block & x, const act & a) {
        const __m512i m3  = _mm512_set1_epi8(3);
        const __m512i q   = load512(x.qs);
        __m512i       sum = a.start;
        for (int l = 0; l < 4; ++l) {
            sum = _mm512_dpbusd_epi32(sum, _mm512_and_si512(_mm512_srli_epi16(q, 2 * l), m3), a.q[l]);
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d); }
};

struct act_tq1_0 {
    __m512i q[4];
    __m512i start;
    explicit act_tq1_0(const block_q8_K & y) {
        for (int k = 0; k < 4; ++k) {
            q[k] = load512(y.qs + 64 * k);
        }
        start = neg_act_sum(y);
    }
};

// Base-3 digit of every byte s (already multiplied by 3^n mod 256): (s * 3) >> 8 is 0, 1 or 2
// as s < 86, s < 171 or above.
inline __m512i trits(__m512i s) {
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i t   = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(s, _mm512_set1_epi8(86)), one);
    return _mm512_mask_add_epi8(t, _mm512_cmpge_epu8_mask(s, _mm512_set1_epi8(static_cast<char>(171))), t, one);
}
inline __m256i times3(__m256i v) {
    return _mm256_add_epi8(v, _mm256_add_epi8(v, v));
}
inline __m128i times3(__m128i v) {
    return _mm_add_epi8(v, _mm_add_epi8(v, v));
}

struct t_tq1_0 {
    using block = block_tq1_0;
    using act   = act_tq1_0;
    static __m512i isum(const block & x, const act & a) {
        // qs[0..32): elements 32n + m are digit n of byte m (n < 5); qs[32..48): elements
        // 160 + 16n + m; qh[0..4): elements 240 + 4n + j (n < 4)
        const __m256i v1 = load256(x.qs), v3 = times3(v1), v9 = times3(v3), v27 = times3(v9), v81 = times3(v27);
        const __m128i w1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x.qs + 32));
        const __m128i w3 = times3(w1), w9 = times3(w3), w27 = times3(w9), w81 = times3(w27);
        const __m128i h1 = _mm_set1_epi32(static_cast<int>(load_u32(x.qh)));
        const __m128i h3 = times3(h1), h9 = times3(h3), h27 = times3(h9);
        const __m128i h   = _mm_blend_epi32(_mm_blend_epi32(_mm_blend_epi32(h1, h3, 2), h9, 4), h27, 8);
        __m512i       sum = a.start;
        sum               = _mm512_dpbusd_epi32(sum, trits(join(v1, v3)), a.q[0]);
        sum               = _mm512_dpbusd_epi32(sum, trits(join(v9, v27)), a.q[1]);
        sum               = _mm512_dpbusd_epi32(sum, trits(join(v81, _mm256_setr_m128i(w1, w3))), a.q[2]);
        sum = _mm512_dpbusd_epi32(sum, trits(join(_mm256_setr_m128i(w9, w27), _mm256_setr_m128i(w81, h))), a.q[3]);
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d); }
};

template <typename T, int R>
void rows_iq(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    using block     = typename T::block;
    const auto *  y = static_cast<const block_q8_K *>(act);
    const block * x[R];
    __m512        acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const typename T::act a(y[b]);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block)>(x[r] + b, R * stride);
            const __m512i isum = T::isum(x[r][b], a);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(y[b].d * T::scale(x[r][b])), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

template <typename T>
void dot_iq(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    for_row_groups<rows_iq<T, k_row_group>, rows_iq<T, 1>>(n, w, stride, n_rows, act, out);
}

}  // namespace

void dot_iq2_xxs_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq2_xxs>(n, w, s, r, a, o);
}
void dot_iq2_xs_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq2_xs>(n, w, s, r, a, o);
}
void dot_iq2_s_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq2_s>(n, w, s, r, a, o);
}
void dot_iq3_xxs_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq3_xxs>(n, w, s, r, a, o);
}
void dot_iq3_s_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq3_s>(n, w, s, r, a, o);
}
void dot_iq1_s_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq1_s>(n, w, s, r, a, o);
}
void dot_iq1_m_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq1_m>(n, w, s, r, a, o);
}
void dot_iq4_xs_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq4_xs>(n, w, s, r, a, o);
}
void dot_tq1_0_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_tq1_0>(n, w, s, r, a, o);
}
void dot_tq2_0_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_tq2_0>(n, w, s, r, a, o);
}

}  // namespace sluice::kern
#endif
