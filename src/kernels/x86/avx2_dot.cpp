// AVX2 dot products for the float types and the 32-element block types, plus the AVX2
// kernel table. Int8 products use maddubs (u8 x s8 -> s16 pairs) and madd (-> s32); signed
// weights go through the sign trick |w| * sign(a, w), which cannot saturate because the
// activations stay within [-127, 127]. Four rows share each activation load.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/decoded_tile.h"
#include "kernels/x86/x86_common.h"
#include "tensor/iq_tables.h"

namespace sluice::kern {
namespace {

using namespace x86;

inline __m256i dot_u8(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

inline __m256i dot_s8(__m256i w, __m256i a) {
    return dot_u8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31).
inline __m256i unpack_nibbles(const uint8_t * qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// Bit j of the 32-bit word at p -> byte j = 0x10 where set (bit 4 of the Q5 codes).
inline __m256i high_bits_q5(const uint8_t * p) {
    const __m256i rep = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(load_u32(p))),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bits = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    const __m256i set  = _mm256_cmpeq_epi8(_mm256_or_si256(rep, bits), _mm256_set1_epi64x(-1));
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// ---- per-type decoding of one block into 32 signed (or unsigned) int8 codes ----

inline __m256i codes_q4_0(const block_q4_0 & x) {
    return _mm256_sub_epi8(unpack_nibbles(x.qs), _mm256_set1_epi8(8));
}
inline __m256i codes_q5_0(const block_q5_0 & x) {
    const __m256i q = _mm256_or_si256(unpack_nibbles(x.qs), high_bits_q5(x.qh));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(16));
}
inline __m256i codes_q8_0(const block_q8_0 & x) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(x.qs));
}
inline __m256i codes_mxfp4(const block_mxfp4 & x) {
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kvalues_mxfp4)));
    return _mm256_shuffle_epi8(table, unpack_nibbles(x.qs));
}
inline __m256i codes_iq4_nl(const block_iq4_nl & x) {
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kvalues_iq4nl)));
    return _mm256_shuffle_epi8(table, unpack_nibbles(x.qs));
}
inline __m256i codes_q4_1(const block_q4_1 & x) {
    return unpack_nibbles(x.qs);
}
inline __m256i codes_q5_1(const block_q5_1 & x) {
    return _mm256_or_si256(unpack_nibbles(x.qs), high_bits_q5(x.qh));
}

inline float scale_f16(uint16_t d) {
    return f16_to_f32_x86(d);
}
inline float scale_q4_0(const block_q4_0 & x) {
    return scale_f16(x.d);
}
inline float scale_q5_0(const block_q5_0 & x) {
    return scale_f16(x.d);
}
inline float scale_q8_0(const block_q8_0 & x) {
    return scale_f16(x.d);
}
inline float scale_iq4_nl(const block_iq4_nl & x) {
    return scale_f16(x.d);
}
inline float scale_mxfp4(const block_mxfp4 & x) {
    return e8m0_half_x86(x.e);
}

// Signed-code types with Q8_0 activations: acc += (dw * da) * sum(w * a) per block.
template <typename block, __m256i (*codes)(const block &), float (*scale)(const block &), int R>
void rows_q8_0_act(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *  y = static_cast<const block_q8_0 *>(act);
    const block * x[R];
    __m256        acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        const __m256i a  = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs));
        const float   da = scale_f16(y[b].d);
        for (int r = 0; r < R; ++r) {
            const __m256i p = dot_s8(codes(x[r][b]), a);
            acc[r]          = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale(x[r][b]) * da), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = hsum_ps256(acc[r]);
    }
}

// Unsigned-code types with a min and Q8_1 activations: + m * s per block, summed apart.
template <typename block, __m256i (*codes)(const block &), int R>
void rows_q8_1_act(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *  y = static_cast<const block_q8_1 *>(act);
    const block * x[R];
    __m256        acc[R];
    float         ms[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm256_setzero_ps();
        ms[r]  = 0.0f;
    }
    for (int64_t b = 0; b < n / QK8_1; ++b) {
        const __m256i a  = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y[b].qs));
        const float   da = scale_f16(y[b].d), sa = scale_f16(y[b].s);
        for (int r = 0; r < R; ++r) {
            const __m256i p = dot_u8(codes(x[r][b]), a);
            acc[r]          = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale_f16(x[r][b].d) * da), acc[r]);
            ms[r] += scale_f16(x[r][b].m) * sa;
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = hsum_ps256(acc[r]) + ms[r];
    }
}

// ---- float weights with F32 activations: two 8-lane accumulators per row, scalar tail ----

inline __m256 load8_f32(const uint8_t * p) {
    return _mm256_loadu_ps(reinterpret_cast<const float *>(p));
}
inline __m256 load8_f16(const uint8_t * p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}
inline __m256 load8_bf16(const uint8_t * p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
inline float one_f32(const uint8_t * p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
}
inline float one_f16(const uint8_t * p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32_x86(h);
}
inline float one_bf16(const uint8_t * p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float          f;
    std::memcpy(&f, &bits, 4);
    return f;
}

template <int elem_bytes, __m256 (*load8)(const uint8_t *), float (*one)(const uint8_t *), int R>
void rows_float(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *    a = static_cast<const float *>(act);
    const uint8_t * x[R];
    __m256          acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) {
        x[r]    = row_ptr(w, stride, r);
        acc0[r] = _mm256_setzero_ps();
        acc1[r] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
        for (int r = 0; r < R; ++r) {
            acc0[r] = _mm256_fmadd_ps(load8(x[r] + i * elem_bytes), a0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(load8(x[r] + (i + 8) * elem_bytes), a1, acc1[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        float tail = 0.0f;
        for (int64_t j = i; j < n; ++j) {
            tail += one(x[r] + j * elem_bytes) * a[j];
        }
        out[r] = hsum_ps256(_mm256_add_ps(acc0[r], acc1[r])) + tail;
    }
}

template <template <int> class K>
void dot_grouped(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    for_row_groups<K<k_row_group>::run, K<1>::run>(n, w, stride, n_rows, act, out);
}

#define SLUICE_Q8_0_KERNEL(name, block)                                                     \
    template <int R>                                                                        \
    struct k_##name {                                                                       \
        static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) { \
            rows_q8_0_act<block, codes_##name, scale_##name, R>(n, w, s, a, o);             \
        }                                                                                   \
    };
SLUICE_Q8_0_KERNEL(q4_0, block_q4_0)
SLUICE_Q8_0_KERNEL(q5_0, block_q5_0)
SLUICE_Q8_0_KERNEL(q8_0, block_q8_0)
SLUICE_Q8_0_KERNEL(mxfp4, block_mxfp4)
SLUICE_Q8_0_KERNEL(iq4_nl, block_iq4_nl)
#undef SLUICE_Q8_0_KERNEL

// The signed-code types over many tokens (dot_tile): each block's codes and scale decoded once
// per call (decoded_tile.h) and dotted with every token from L1; per (row, token) the
// operations of rows_q8_0_act, so results equal dot_rows bit for bit.
// Tr: a type's block, codes() and scale() (q8_0_act_traits below).
template <typename Tr>
struct q8_0_act_decoded {
    using block                     = typename Tr::block;
    using w_unit                    = block;
    using a_unit                    = block_q8_0;
    static constexpr int64_t k_unit = QK8_0;
    struct alignas(32) decoded {
        __m256i w;
        float   s;
    };
    struct act {  // the tokens are read in place
        const block_q8_0 * y;
        void               load(const block_q8_0 & src) { y = &src; }
    };
    static void decode(const block & x, decoded & dx) {
        dx.w = Tr::codes(x);
        dx.s = Tr::scale(x);
    }
    template <int R, int T>
    static void tile(int64_t nb, const decoded * xs, const act * as, float * out, int64_t out_stride) {
        __m256 acc[R][T] = {};
        for (int64_t b = 0; b < nb; ++b) {
            __m256i a[T];
            float   da[T];
            for (int t = 0; t < T; ++t) {
                const block_q8_0 & y = *as[t * nb + b].y;
                a[t]                 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y.qs));
                da[t]                = scale_f16(y.d);
            }
            for (int r = 0; r < R; ++r) {
                const decoded & x = xs[b * R + r];
                for (int t = 0; t < T; ++t) {
                    const __m256i p = dot_s8(x.w, a[t]);
                    acc[r][t]       = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(x.s * da[t]), acc[r][t]);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                out[t * out_stride + r] = hsum_ps256(acc[r][t]);
            }
        }
    }
};

constexpr int     k_tile_rows = 2, k_tile_tokens = 2;
constexpr int64_t k_q8_0_act_tile_min_tokens = 4;

template <typename Tr, template <int> class K>
void dot_tile_q8_0_act(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act,
                       uint64_t act_stride, int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    if (n_tok < k_q8_0_act_tile_min_tokens) {
        dot_rows_per_token(dot_grouped<K>, n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride);
        return;
    }
    decoded::dot_tile<q8_0_act_decoded<Tr>, k_tile_rows, k_tile_tokens>(n, w, stride, n_rows, act, act_stride, n_tok,
                                                                        out, out_stride, scratch);
}

template <typename Tr>
uint64_t tile_scratch_q8_0_act(int64_t n, int64_t n_tok) {
    return n_tok < k_q8_0_act_tile_min_tokens ? 0 : decoded::scratch_bytes<q8_0_act_decoded<Tr>, k_tile_rows>(n, n_tok);
}

#define SLUICE_Q8_0_TILE(name, blk)                                       \
    struct q8_0_act_traits_##name {                                       \
        using block = blk;                                                \
        static __m256i codes(const block & x) { return codes_##name(x); } \
        static float   scale(const block & x) { return scale_##name(x); } \
    };
SLUICE_Q8_0_TILE(q4_0, block_q4_0)
SLUICE_Q8_0_TILE(q5_0, block_q5_0)
SLUICE_Q8_0_TILE(mxfp4, block_mxfp4)
SLUICE_Q8_0_TILE(iq4_nl, block_iq4_nl)
#undef SLUICE_Q8_0_TILE

template <int R>
struct k_q4_1 {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_q8_1_act<block_q4_1, codes_q4_1, R>(n, w, s, a, o);
    }
};
template <int R>
struct k_q5_1 {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_q8_1_act<block_q5_1, codes_q5_1, R>(n, w, s, a, o);
    }
};
template <int R>
struct k_f32 {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_float<4, load8_f32, one_f32, R>(n, w, s, a, o);
    }
};
template <int R>
struct k_f16 {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_float<2, load8_f16, one_f16, R>(n, w, s, a, o);
    }
};
template <int R>
struct k_bf16 {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) {
        rows_float<2, load8_bf16, one_bf16, R>(n, w, s, a, o);
    }
};

}  // namespace

// K-quant kernels live in avx2_dot_k.cpp.
void dot_q2_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q3_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q4_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q5_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q6_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);
// Multi-token kernels of Q5_K and Q6_K live in avx2_tile_k.cpp (none for Q4_K: see there).
void dot_tile_q5_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, uint64_t, int64_t, float *, uint64_t,
                        void *);
void dot_tile_q6_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, uint64_t, int64_t, float *, uint64_t,
                        void *);
uint64_t tile_scratch_q5_k_avx2(int64_t n, int64_t n_tok);
uint64_t tile_scratch_q6_k_avx2(int64_t n, int64_t n_tok);

const type_kernels * avx2_kernels(ggml_type t) {
    static const kernel_table table = {
        .f32   = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_f32>},
        .f16   = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_f16>},
        .bf16  = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_bf16>},
        .q4_0  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q4_0>,
                  dot_tile_q8_0_act<q8_0_act_traits_q4_0, k_q4_0>, tile_scratch_q8_0_act<q8_0_act_traits_q4_0>},
        .q4_1  = {act_format::Q8_1, quantize_act_q8_1_avx2, dot_grouped<k_q4_1>},
        .q5_0  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q5_0>,
                  dot_tile_q8_0_act<q8_0_act_traits_q5_0, k_q5_0>, tile_scratch_q8_0_act<q8_0_act_traits_q5_0>},
        .q5_1  = {act_format::Q8_1, quantize_act_q8_1_avx2, dot_grouped<k_q5_1>},
        .q8_0  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q8_0>},
        .mxfp4 = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_mxfp4>,
                  dot_tile_q8_0_act<q8_0_act_traits_mxfp4, k_mxfp4>, tile_scratch_q8_0_act<q8_0_act_traits_mxfp4>},
        .q2_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q2_k_avx2},
        .q3_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q3_k_avx2},
        .q4_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q4_k_avx2},
        .q5_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q5_k_avx2, dot_tile_q5_k_avx2, tile_scratch_q5_k_avx2},
        .q6_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q6_k_avx2, dot_tile_q6_k_avx2, tile_scratch_q6_k_avx2},
        .iq2_xxs = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq2_xxs_avx2},
        .iq2_xs  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq2_xs_avx2},
        .iq2_s   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq2_s_avx2},
        .iq3_xxs = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq3_xxs_avx2},
        .iq3_s   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq3_s_avx2},
        .iq1_s   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq1_s_avx2},
        .iq1_m   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq1_m_avx2},
        .iq4_nl  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_iq4_nl>,
                    dot_tile_q8_0_act<q8_0_act_traits_iq4_nl, k_iq4_nl>, tile_scratch_q8_0_act<q8_0_act_traits_iq4_nl>},
        .iq4_xs  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_iq4_xs_avx2},
        .tq1_0   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_tq1_0_avx2},
        .tq2_0   = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_tq2_0_avx2},
    };
    return lookup(table, t);
}

}  // namespace sluice::kern
#endif
