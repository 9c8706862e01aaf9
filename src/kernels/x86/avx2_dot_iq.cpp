// AVX2 dot products of the i-quants and ternary types with Q8_K activations. Per block and row
// the same integer sum as the scalar reference (ref_dot_iq.cpp) is formed exactly:
//   isum = sum_sub sc[sub] * sum_{i in sub} q[i] * a[i]
// and scaled once: acc += (da * d * factor) * isum. The grid types build 32 unsigned weight
// magnitudes from four 8-byte (or eight 4-byte) grid entries, move the weights' signs onto the
// activations (sign_epi8: |q| * (s * a) = q * a), multiply in maddubs (u8 x s8 -> s16 pairs,
// no saturation: |q| <= 62 here, 127 for IQ4_XS whose pairs stay below 2 * 127 * 127) and apply
// the scales in madd (-> s32). The ternary types multiply the stored digits 0..2 and take the
// -1 back out through the activation's bsums. Rows are processed in groups (prefetching the
// next group); the arithmetic of a row is the same whatever the group size.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"
#include "tensor/iq_tables.h"

namespace sluice::kern {
namespace {

using namespace x86;

inline __m256i grid4(uint64_t g0, uint64_t g1, uint64_t g2, uint64_t g3) {
    return _mm256_setr_epi64x(static_cast<long long>(g0), static_cast<long long>(g1), static_cast<long long>(g2),
                              static_cast<long long>(g3));
}

// Byte l of b (l < 4) repeated over bytes 8l..8l+7.
inline __m256i expand4(uint32_t b) {
    return _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(b)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
}

// Four sign bytes (byte l: elements 8l..8l+7, bit j set: element 8l+j negative) -> 32 bytes of
// +1 / -1, the second operand of sign_epi8.
inline __m256i sign_vec(uint32_t s) {
    const __m256i rep  = expand4(s);
    const __m256i bits = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    const __m256i neg  = _mm256_cmpeq_epi8(_mm256_and_si256(rep, bits), bits);
    return _mm256_or_si256(neg, _mm256_set1_epi8(1));
}

// The scales 2s + 1 of the IQ2_XXS / IQ3_XXS aux words (s in bits 28..31), as int32.
inline __m256i odd_scales_from_aux(__m256i aux) {
    const __m256i s = _mm256_srli_epi32(aux, 28);
    return _mm256_add_epi32(_mm256_add_epi32(s, s), _mm256_set1_epi32(1));
}

// 32 magnitudes times 32 activations with signs s, weighted by the int16 scales: 8 int32 lanes.
inline __m256i signed_dot(__m256i mag, __m256i signs, const int8_t * a, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(mag, _mm256_sign_epi8(load256(a), signs)), scales);
}

// Signed codes q (q != -128) against the activations: |q| * sign(a, q).
inline __m256i codes_dot(__m256i q, const int8_t * a, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(load256(a), q)), scales);
}

inline __m256i scale1(int s) {
    return _mm256_set1_epi16(static_cast<int16_t>(s));
}
// s0 for the first 16 elements, s1 for the last 16.
inline __m256i scale2(int s0, int s1) {
    return _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(s0)), _mm_set1_epi16(static_cast<int16_t>(s1)));
}

// ---- per-type block sums: isum as 8 int32 lanes, and d * factor ----

struct t_iq2_xxs {
    using block = block_iq2_xxs;
    static __m256i isum(const block & x, const int8_t * a) {
        const auto *         qs  = reinterpret_cast<const uint8_t *>(x.qs);
        const __m256i        aux = aux_iq2_xxs_x86(qs);
        alignas(32) uint32_t signs[8];
        alignas(32) int32_t  sc[8];
        _mm256_store_si256(reinterpret_cast<__m256i *>(signs), signs_from_aux_x86(aux));
        _mm256_store_si256(reinterpret_cast<__m256i *>(sc), odd_scales_from_aux(aux));
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const uint8_t * idx = qs + 8 * ib;
            const __m256i   mag =
                grid4(iq2xxs_grid[idx[0]], iq2xxs_grid[idx[1]], iq2xxs_grid[idx[2]], iq2xxs_grid[idx[3]]);
            sum = _mm256_add_epi32(sum, signed_dot(mag, sign_vec(signs[ib]), a + 32 * ib, scale1(sc[ib])));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq2_xs {
    using block = block_iq2_xs;
    static __m256i isum(const block & x, const int8_t * a) {
        alignas(32) uint32_t signs[8];
        _mm256_store_si256(reinterpret_cast<__m256i *>(signs), signs_iq2_xs_x86(x.qs));
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            // four u16: 9-bit grid index, 7 sign bits on top
            const uint16_t * q = x.qs + 4 * ib;
            const __m256i    mag =
                grid4(iq2xs_grid[q[0] & 511], iq2xs_grid[q[1] & 511], iq2xs_grid[q[2] & 511], iq2xs_grid[q[3] & 511]);
            const int sc = x.scales[ib];
            sum          = _mm256_add_epi32(
                         sum, signed_dot(mag, sign_vec(signs[ib]), a + 32 * ib, scale2(2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1)));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq2_s {
    using block = block_iq2_s;
    static __m256i isum(const block & x, const int8_t * a) {
        const uint8_t *      signs = x.qs + QK_K / 8;
        alignas(32) uint16_t idx[QK_K / 8];
        iq2_s_indices(x, idx);
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const uint16_t * q   = idx + 4 * ib;
            const __m256i    mag = grid4(iq2s_grid[q[0]], iq2s_grid[q[1]], iq2s_grid[q[2]], iq2s_grid[q[3]]);
            const int        sc  = x.scales[ib];
            sum = _mm256_add_epi32(sum, signed_dot(mag, sign_vec(load_u32(signs + 4 * ib)), a + 32 * ib,
                                                   scale2(2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1)));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

struct t_iq3_xxs {
    using block = block_iq3_xxs;
    static __m256i isum(const block & x, const int8_t * a) {
        const __m256i        aux = load256(x.qs + QK_K / 4);  // per 32: 4 x 7 sign bits, the scale on top
        alignas(32) uint32_t signs[8];
        alignas(32) int32_t  sc[8];
        _mm256_store_si256(reinterpret_cast<__m256i *>(signs), signs_from_aux_x86(aux));
        _mm256_store_si256(reinterpret_cast<__m256i *>(sc), odd_scales_from_aux(aux));
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const uint8_t * q = x.qs + 8 * ib;
            const __m256i   mag =
                _mm256_setr_epi32(static_cast<int>(iq3xxs_grid[q[0]]), static_cast<int>(iq3xxs_grid[q[1]]),
                                  static_cast<int>(iq3xxs_grid[q[2]]), static_cast<int>(iq3xxs_grid[q[3]]),
                                  static_cast<int>(iq3xxs_grid[q[4]]), static_cast<int>(iq3xxs_grid[q[5]]),
                                  static_cast<int>(iq3xxs_grid[q[6]]), static_cast<int>(iq3xxs_grid[q[7]]));
            sum = _mm256_add_epi32(sum, signed_dot(mag, sign_vec(signs[ib]), a + 32 * ib, scale1(sc[ib])));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.25f; }
};

struct t_iq3_s {
    using block = block_iq3_s;
    static __m256i isum(const block & x, const int8_t * a) {
        alignas(32) uint16_t idx[QK_K / 4];
        iq3_s_indices(x, idx);
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const uint16_t * q   = idx + 8 * ib;
            const auto       g   = [&](int k) { return static_cast<int>(iq3s_grid[q[k]]); };
            const __m256i    mag = _mm256_setr_epi32(g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7));
            const int        s   = (x.scales[ib / 2] >> (4 * (ib % 2))) & 0xf;
            sum                  = _mm256_add_epi32(
                                 sum, signed_dot(mag, sign_vec(load_u32(x.signs + 4 * ib)), a + 32 * ib, scale1(2 * s + 1)));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d); }
};

// IQ1: codes 8 * g + delta with g in {-1, 0, 1} (the grid's signed bytes) and delta = +-1 per
// group of 8; 8g comes from sign_epi8(8, g).
inline __m256i iq1_codes(__m256i g, __m256i delta) {
    return _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), g), delta);
}

struct t_iq1_s {
    using block = block_iq1_s;
    static __m256i isum(const block & x, const int8_t * a) {
        alignas(32) uint16_t idx[QK_K / 8];
        iq1_s_indices(x, idx);
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const int        h   = x.qh[ib];
            const uint16_t * q   = idx + 4 * ib;
            const __m256i    g   = grid4(iq1s_grid[q[0]], iq1s_grid[q[1]], iq1s_grid[q[2]], iq1s_grid[q[3]]);
            const __m256i    del = _mm256_set1_epi8((h & 0x8000) ? -1 : 1);
            sum = _mm256_add_epi32(sum, codes_dot(iq1_codes(g, del), a + 32 * ib, scale1(2 * ((h >> 12) & 7) + 1)));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d) * 0.125f; }
};

inline uint16_t iq1_m_d(const block_iq1_m & x) {
    uint16_t sc[4];
    std::memcpy(sc, x.scales, sizeof sc);
    return static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

struct t_iq1_m {
    using block = block_iq1_m;
    static __m256i isum(const block & x, const int8_t * a) {
        uint16_t sc[4];
        std::memcpy(sc, x.scales, sizeof sc);
        alignas(32) uint16_t idx[QK_K / 8];
        alignas(32) uint8_t  delta[QK_K / 8];
        iq1_m_indices(x, idx, delta);
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const uint16_t * q = idx + 4 * ib;
            const __m256i    g = grid4(iq1s_grid[q[0]], iq1s_grid[q[1]], iq1s_grid[q[2]], iq1s_grid[q[3]]);
            const int        s = sc[ib / 2] >> (6 * (ib % 2));
            sum = _mm256_add_epi32(sum, codes_dot(iq1_codes(g, expand4(load_u32(delta + 4 * ib))), a + 32 * ib,
                                                  scale2(2 * (s & 7) + 1, 2 * ((s >> 3) & 7) + 1)));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(iq1_m_d(x)) * 0.125f; }
};

struct t_iq4_xs {
    using block = block_iq4_xs;
    static __m256i isum(const block & x, const int8_t * a) {
        const __m256i table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kvalues_iq4nl)));
        const __m256i       m4 = _mm256_set1_epi8(0x0f);
        alignas(32) int32_t sc[8];
        _mm256_store_si256(reinterpret_cast<__m256i *>(sc), iq4_xs_scales_x86(x));
        __m256i sum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            // 16 bytes: low nibbles are elements 0..15, high nibbles 16..31
            const __m128i q   = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x.qs + 16 * ib));
            const __m256i nib = _mm256_and_si256(_mm256_setr_m128i(q, _mm_srli_epi16(q, 4)), m4);
            sum = _mm256_add_epi32(sum, codes_dot(_mm256_shuffle_epi8(table, nib), a + 32 * ib, scale1(sc[ib])));
        }
        return sum;
    }
    static float scale(const block & x) { return f16_to_f32_x86(x.d); }
};

// sum of the activation's 256 codes, as 8 int32 lanes (the ternary types' -1).
inline __m256i act_sum(const block_q8_K & y) {
    return _mm256_madd_epi16(load256(y.bsums), _mm256_set1_epi16(1));
}

struct t_tq2_0 {
    using block = block_tq2_0;
    static __m256i isum(const block & x, const int8_t * a) {
        const __m256i m3  = _mm256_set1_epi8(3);
        __m256i       acc = _mm256_setzero_si256();  // int16 pairs: 8 x 2 x 2 x 127 at most
        for (int half = 0; half < 2; ++half) {
            const __m256i q = load256(x.qs + 32 * half);
            for (int l = 0; l < 4; ++l) {
                const __m256i t = _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), m3);
                acc             = _mm256_add_epi16(acc, _mm256_maddubs_epi16(t, load256(a + 128 * half + 32 * l)));
            }
        }
        return _mm256_madd_epi16(acc, _mm256_set1_epi16(1));
    }
    static float          scale(const block & x) { return f16_to_f32_x86(x.d); }
    static constexpr bool minus_one = true;
};

// TQ1_0's base-3 digit of every byte after multiplying by 3^n (mod 256): (s * 3) >> 8, which is
// 0, 1 or 2 as s < 86, s < 171 or above.
inline __m256i trits(__m256i s) {
    const __m256i ge86  = _mm256_cmpeq_epi8(_mm256_max_epu8(s, _mm256_set1_epi8(86)), s);
    const __m256i ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(s, _mm256_set1_epi8(static_cast<char>(171))), s);
    return _mm256_sub_epi8(_mm256_setzero_si256(), _mm256_add_epi8(ge86, ge171));
}
inline __m256i times3(__m256i v) {
    return _mm256_add_epi8(v, _mm256_add_epi8(v, v));
}
inline __m128i times3(__m128i v) {
    return _mm_add_epi8(v, _mm_add_epi8(v, v));
}

struct t_tq1_0 {
    using block = block_tq1_0;
    static __m256i isum(const block & x, const int8_t * a) {
        __m256i acc = _mm256_setzero_si256();  // int16 pairs, as for TQ2_0
        // qs[0..32): elements 32n + m are digit n of byte m
        __m256i v = load256(x.qs);
        for (int n = 0; n < 5; ++n) {
            acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(trits(v), load256(a + 32 * n)));
            v   = times3(v);
        }
        // qs[32..48): elements 160 + 16n + m; qh[0..4): elements 240 + 4n + j
        const __m128i w   = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x.qs + 32));
        __m256i       w2  = _mm256_setr_m128i(w, times3(w));
        acc               = _mm256_add_epi16(acc, _mm256_maddubs_epi16(trits(w2), load256(a + 160)));
        w2                = times3(times3(w2));
        acc               = _mm256_add_epi16(acc, _mm256_maddubs_epi16(trits(w2), load256(a + 192)));
        const __m128i w81 = times3(times3(_mm256_castsi256_si128(w2)));
        const __m128i h1  = _mm_set1_epi32(static_cast<int>(load_u32(x.qh)));
        const __m128i h3 = times3(h1), h9 = times3(h3), h27 = times3(h9);
        const __m128i h = _mm_blend_epi32(_mm_blend_epi32(_mm_blend_epi32(h1, h3, 2), h9, 4), h27, 8);
        acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(trits(_mm256_setr_m128i(w81, h)), load256(a + 224)));
        return _mm256_madd_epi16(acc, _mm256_set1_epi16(1));
    }
    static float          scale(const block & x) { return f16_to_f32_x86(x.d); }
    static constexpr bool minus_one = true;
};

template <typename T>
constexpr bool has_minus_one() {
    if constexpr (requires { T::minus_one; }) {
        return T::minus_one;
    }
    return false;
}

template <typename T, int R>
void rows_iq(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    using block     = typename T::block;
    const auto *  y = static_cast<const block_q8_K *>(act);
    const block * x[R];
    __m256        acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < n / QK_K; ++b) {
        __m256i off = _mm256_setzero_si256();
        if constexpr (has_minus_one<T>()) {
            off = act_sum(y[b]);
        }
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block)>(x[r] + b, R * stride);
            const __m256i isum = _mm256_sub_epi32(T::isum(x[r][b], y[b].qs), off);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(y[b].d * T::scale(x[r][b])), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = hsum_ps256(acc[r]);
    }
}

template <typename T>
void dot_iq(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    for_row_groups<rows_iq<T, k_row_group>, rows_iq<T, 1>>(n, w, stride, n_rows, act, out);
}

}  // namespace

void dot_iq2_xxs_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq2_xxs>(n, w, s, r, a, o);
}
void dot_iq2_xs_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq2_xs>(n, w, s, r, a, o);
}
void dot_iq2_s_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq2_s>(n, w, s, r, a, o);
}
void dot_iq3_xxs_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq3_xxs>(n, w, s, r, a, o);
}
void dot_iq3_s_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq3_s>(n, w, s, r, a, o);
}
void dot_iq1_s_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq1_s>(n, w, s, r, a, o);
}
void dot_iq1_m_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq1_m>(n, w, s, r, a, o);
}
void dot_iq4_xs_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_iq4_xs>(n, w, s, r, a, o);
}
void dot_tq1_0_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_tq1_0>(n, w, s, r, a, o);
}
void dot_tq2_0_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_iq<t_tq2_0>(n, w, s, r, a, o);
}

}  // namespace sluice::kern
#endif
