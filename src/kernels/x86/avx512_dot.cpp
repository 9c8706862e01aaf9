// AVX-512 (F/BW/VL/DQ/VNNI) dot products for the float types and Q4_1 / Q5_1 (Q8_1
// activations, four blocks per step: the scales of four blocks convert in one instruction),
// plus the AVX-512 kernel table. The 32-code types with Q8_0 activations (Q8_0, Q4_0, Q5_0,
// IQ4_NL, MXFP4) and the K-quants run the row-lanes kernels (avx512_lanes_q32.h, avx512_lanes_k.h).
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_lanes_q32.h"
#include "kernels/x86/x86_common.h"

#include <type_traits>

namespace sluice::kern {
namespace {

using namespace x86;

inline __m128i load128(const void * p) {
    return _mm_loadu_si128(static_cast<const __m128i *>(p));
}

// Four F16 values (missing ones 0) -> four floats.
inline __m128 f16x4(uint64_t bits) {
    return _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(bits)));
}

// Four floats -> 16 lanes, lanes 4k..4k+3 taking s_k (the int32 lanes of block k below).
inline __m512 spread4(__m128 s) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                 _mm512_zextps128_ps512(s));
}

// ---- 4-bit types, four blocks per step ----
// `lo` holds in 128-bit lane k the first 16 codes of block k (the low nibbles), `hi` the last
// 16 (the high nibbles); the activations are regrouped the same way once for all rows, so one
// dpbusd pair leaves block k's sum in int32 lanes 4k..4k+3. C < 4 blocks (the tail) read the
// missing ones as zero.

template <int C, typename block>
inline __m512i gather_qs(const block * x) {
    __m512i z = _mm512_zextsi128_si512(load128(x[0].qs));
    if constexpr (C > 1) {
        z = _mm512_inserti32x4(z, load128(x[1].qs), 1);
    }
    if constexpr (C > 2) {
        z = _mm512_inserti32x4(z, load128(x[2].qs), 2);
    }
    if constexpr (C > 3) {
        z = _mm512_inserti32x4(z, load128(x[3].qs), 3);
    }
    return z;
}

template <int C, typename block>
inline void nibbles4(const block * x, __m512i & lo, __m512i & hi) {
    const __m512i z  = gather_qs<C>(x);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    lo               = _mm512_and_si512(z, m4);
    hi               = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
}

template <int C, typename block>
inline __m128 f16_scales4(const block * x) {
    uint64_t bits = 0;
    for (int k = 0; k < C; ++k) {
        bits |= static_cast<uint64_t>(x[k].d) << (16 * k);
    }
    return f16x4(bits);
}

// Activations of four Q8_0 / Q8_1 blocks in the nibble layout, and their scales.
struct act4 {
    __m512i lo, hi;
    __m128  d;
};

template <int C, typename ablock>
inline act4 load_act4(const ablock * y) {
    act4    a;
    __m512i lo = _mm512_zextsi128_si512(load128(y[0].qs)), hi = _mm512_zextsi128_si512(load128(y[0].qs + 16));
    if constexpr (C > 1) {
        lo = _mm512_inserti32x4(lo, load128(y[1].qs), 1);
        hi = _mm512_inserti32x4(hi, load128(y[1].qs + 16), 1);
    }
    if constexpr (C > 2) {
        lo = _mm512_inserti32x4(lo, load128(y[2].qs), 2);
        hi = _mm512_inserti32x4(hi, load128(y[2].qs + 16), 2);
    }
    if constexpr (C > 3) {
        lo = _mm512_inserti32x4(lo, load128(y[3].qs), 3);
        hi = _mm512_inserti32x4(hi, load128(y[3].qs + 16), 3);
    }
    a.lo = lo;
    a.hi = hi;
    a.d  = f16_scales4<C>(y);
    return a;
}

// Fifth bits of Q5_0 / Q5_1: bit j of block k's qh belongs to lane k of lo (j < 16) or hi.
template <int C, typename block>
inline void add_fifth_bits(const block * x, __m512i & lo, __m512i & hi) {
    uint64_t mlo = 0, mhi = 0;
    for (int k = 0; k < C; ++k) {
        const uint32_t qh = load_u32(x[k].qh);
        mlo |= static_cast<uint64_t>(qh & 0xFFFFu) << (16 * k);
        mhi |= static_cast<uint64_t>(qh >> 16) << (16 * k);
    }
    const __m512i b4 = _mm512_set1_epi8(0x10);
    lo               = _mm512_mask_add_epi8(lo, mlo, lo, b4);
    hi               = _mm512_mask_add_epi8(hi, mhi, hi, b4);
}

// Q4_1 / Q5_1 with Q8_1 activations: unsigned codes, + m * s per block summed apart.
template <bool fifth_bit, typename block, int R, int C>
inline void step_q8_1_act(const block * const * x, uint64_t stride, const block_q8_1 * y, int64_t b, __m512 * acc,
                          float * ms) {
    const act4 a = load_act4<C>(y + b);
    float      s[4];
    for (int k = 0; k < C; ++k) {
        s[k] = f16_to_f32_x86(y[b + k].s);
    }
    for (int r = 0; r < R; ++r) {
        prefetch_ahead<C * sizeof(block)>(x[r] + b, R * stride);
        __m512i lo, hi;
        nibbles4<C>(x[r] + b, lo, hi);
        if constexpr (fifth_bit) {
            add_fifth_bits<C>(x[r] + b, lo, hi);
        }
        const __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, a.lo), hi, a.hi);
        const __m512  sc   = spread4(_mm_mul_ps(f16_scales4<C>(x[r] + b), a.d));
        acc[r]             = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), sc, acc[r]);
        for (int k = 0; k < C; ++k) {
            ms[r] += f16_to_f32_x86(x[r][b + k].m) * s[k];
        }
    }
}

template <bool fifth_bit, typename block, int R>
void rows_q8_1_act(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *  y = static_cast<const block_q8_1 *>(act);
    const block * x[R];
    __m512        acc[R];
    float         ms[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
        ms[r]  = 0.0f;
    }
    const int64_t nb = n / QK8_1;
    int64_t       b  = 0;
    for (; b + 4 <= nb; b += 4) {
        step_q8_1_act<fifth_bit, block, R, 4>(x, stride, y, b, acc, ms);
    }
    switch (nb - b) {
        case 3:
            step_q8_1_act<fifth_bit, block, R, 3>(x, stride, y, b, acc, ms);
            break;
        case 2:
            step_q8_1_act<fifth_bit, block, R, 2>(x, stride, y, b, acc, ms);
            break;
        case 1:
            step_q8_1_act<fifth_bit, block, R, 1>(x, stride, y, b, acc, ms);
            break;
        default:
            break;
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]) + ms[r];
    }
}

// ---- float weights with F32 activations: two 16-lane accumulators per row, masked tail ----

struct f_f32 {
    static __m512        load(const uint8_t * p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
    static constexpr int bytes = 4;
};
struct f_f16 {
    static __m512 load(const uint8_t * p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
    static constexpr int bytes = 2;
};
struct f_bf16 {
    static __m512 load(const uint8_t * p, __mmask16 m) {
        const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    }
    static constexpr int bytes = 2;
};

inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

template <typename F, int R>
void rows_float(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *    a = static_cast<const float *>(act);
    const uint8_t * x[R];
    __m512          acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) {
        x[r]    = row_ptr(w, stride, r);
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < n; i += 32) {
        const __mmask16 m0 = tail_mask(n - i), m1 = tail_mask(n - i - 16 > 0 ? n - i - 16 : 0);
        const __m512    a0 = _mm512_maskz_loadu_ps(m0, a + i), a1 = _mm512_maskz_loadu_ps(m1, a + i + 16);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<32 * F::bytes>(x[r] + i * F::bytes, R * stride);
            acc0[r] = _mm512_fmadd_ps(F::load(x[r] + i * F::bytes, m0), a0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(F::load(x[r] + (i + 16) * F::bytes, m1), a1, acc1[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
    }
}

template <typename T, int R>
struct k_q8_1_act {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_q8_1_act<std::is_same_v<T, block_q5_1>, T, R>(n, w, s, a, o);
    }
};
template <typename F, int R>
struct k_float {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_float<F, R>(n, w, s, a, o);
    }
};

template <template <typename, int> class K, typename T>
void dot_grouped(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    for_row_groups<K<T, k_row_group>::run, K<T, 1>::run>(n, w, stride, n_rows, act, out);
}

// The 32-code types with Q8_0 activations: the row-lanes kernels (avx512_lanes_q32.h).
// Q8_0's stored form is size-neutral, so Q8_0 matrices can be packed at load; the others' stored
// forms hold their codes as bytes (larger than the file's nibbles) and serve dot_tile only.
// Packed tiles of 6 tokens x 2 groups from 16 tokens on: in the kernel lab (768x2048 and
// 2048x768, 16 and 64 tokens) 1.03-1.07x four tokens with the weights in cache, 1.03-1.15x from
// memory (--copies 64). Below 16, dot_packed takes one group in tiles of 8
// (q32_kind::few_tokens): --copies 160, 8-12 tokens, 0.99-1.16x two groups in tiles of 6.
template <typename C>
constexpr packed_kernels q32_packed_kernels = {lanes::pack_rows<lanes::q32_kind<C>>,
                                               lanes::dot_packed<lanes::q32_kind<C>, 6, 2>,
                                               lanes::packed_scratch<lanes::q32_kind<C>, 6>};

template <typename C>
constexpr type_kernels lanes_q32(const packed_kernels * packed = nullptr) {
    return {act_format::Q8_0,
            quantize_act_q8_0_avx2,
            lanes::q32_dot_rows<C>,
            lanes::dot_tile<lanes::q32_kind<C>, lanes::q32_dot_rows<C>>,
            lanes::tile_scratch<lanes::q32_kind<C>>,
            packed};
}
}  // namespace

// K-quant kernels live in avx512_dot_k.cpp.
void dot_q2_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q3_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q4_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q5_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q6_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_tile_q4_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, uint64_t, int64_t, float *, uint64_t,
                          void *);
void dot_tile_q5_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, uint64_t, int64_t, float *, uint64_t,
                          void *);
void dot_tile_q6_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, uint64_t, int64_t, float *, uint64_t,
                          void *);
uint64_t                    tile_scratch_q4_k_avx512(int64_t n, int64_t n_tok);
uint64_t                    tile_scratch_q5_k_avx512(int64_t n, int64_t n_tok);
uint64_t                    tile_scratch_q6_k_avx512(int64_t n, int64_t n_tok);
extern const packed_kernels packed_q4_k_avx512, packed_q5_k_avx512, packed_q6_k_avx512;

const type_kernels * avx512_kernels(ggml_type t) {
    static const kernel_table table = {
        .f32     = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_float, f_f32>},
        .f16     = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_float, f_f16>},
        .bf16    = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_float, f_bf16>},
        .q4_0    = lanes_q32<lanes::c_q4_0>(),
        .q4_1    = {act_format::Q8_1, quantize_act_q8_1_avx2, dot_grouped<k_q8_1_act, block_q4_1>},
        .q5_0    = lanes_q32<lanes::c_q5_0>(),
        .q5_1    = {act_format::Q8_1, quantize_act_q8_1_avx2, dot_grouped<k_q8_1_act, block_q5_1>},
        .q8_0    = lanes_q32<lanes::c_q8_0>(&q32_packed_kernels<lanes::c_q8_0>),
        .mxfp4   = lanes_q32<lanes::c_mxfp4>(),
        .q2_k    = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q2_k_avx512},
        .q3_k    = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q3_k_avx512},
        .q4_k    = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q4_k_avx512, dot_tile_q4_k_avx512,
                    tile_scratch_q4_k_avx512, &packed_q4_k_avx512},
        .q5_k    = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q5_k_avx512, dot_tile_q5_k_avx512,
                    tile_scratch_q5_k_avx512, &packed_q5_k_avx512},
        .q6_k    = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q6_k_avx512, dot_tile_q6_k_avx512,
                    tile_scratch_q6_k_avx512, &packed_q6_k_avx512},
        .iq2_xxs = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq2_xxs_avx512},
        .iq2_xs  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq2_xs_avx512},
        .iq2_s   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq2_s_avx512},
        .iq3_xxs = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq3_xxs_avx512},
        .iq3_s   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq3_s_avx512},
        .iq1_s   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq1_s_avx512},
        .iq1_m   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq1_m_avx512},
        .iq4_nl  = lanes_q32<lanes::c_iq4_nl>(),
        .iq4_xs  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq4_xs_avx512},
        .tq1_0   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_tq1_0_avx512},
        .tq2_0   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_tq2_0_avx512},
    };
    return lookup(table, t);
}

}  // namespace sluice::kern
#endif
