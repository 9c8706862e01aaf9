// AVX-512 (F/BW/VL/DQ/VNNI) dot products for the float types and the 32-element block types,
// plus the AVX-512 kernel table. Two blocks (64 codes) fill one zmm; VNNI dpbusd takes the
// weights as the unsigned operand. Signed codes are offset to unsigned (Q4_0 +8, Q5_0 +16,
// Q8_0 and MXFP4 +128) and the offset comes back out through k * sum(a), computed once per
// block pair from the activations and used as dpbusd's starting value for every row.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {

using namespace x86;

inline __m128i load128(const void * p) { return _mm_loadu_si128(static_cast<const __m128i *>(p)); }
inline __m256i load256(const void * p) { return _mm256_loadu_si256(static_cast<const __m256i *>(p)); }

// Two 32-byte halves into one zmm; a missing second block (odd block count) reads as zero.
inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// Nibbles of one or two blocks (16 bytes each) -> 64 codes in element order:
// [b0 low, b0 high, b1 low, b1 high] in the four 128-bit lanes.
inline __m512i nibbles_pair(const uint8_t * q0, const uint8_t * q1) {
    const __m256i t = q1 != nullptr ? _mm256_inserti128_si256(_mm256_castsi128_si256(load128(q0)), load128(q1), 1)
                                    : _mm256_zextsi128_si256(load128(q0));
    const __m512i z = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(t));
    return _mm512_and_si512(_mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(0x0F));
}

// Two F16 scales -> lanes 0..7 get the first, 8..15 the second (0 where there is no block).
inline __m128 f16_pair(uint16_t d0, uint16_t d1) {
    return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d0 | (static_cast<uint32_t>(d1) << 16))));
}
inline __m512 spread_pair(__m128 s) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(s));
}

// ---- per-type access to a pair of blocks (x1 == nullptr for the odd last block) ----

struct t_q4_0 {
    using block                = block_q4_0;
    static constexpr int shift = 8;  // codes stored as q, value q - 8
    static __m512i codes(const block * x0, const block * x1) { return nibbles_pair(x0->qs, x1 ? x1->qs : nullptr); }
    static __m128 scales(const block * x0, const block * x1) { return f16_pair(x0->d, x1 ? x1->d : 0); }
};

struct t_q5_0 {
    using block                = block_q5_0;
    static constexpr int shift = 16;
    static __m512i codes(const block * x0, const block * x1) {
        const __m512i  q  = nibbles_pair(x0->qs, x1 ? x1->qs : nullptr);
        const uint64_t qh = load_u32(x0->qh) | (x1 ? static_cast<uint64_t>(load_u32(x1->qh)) << 32 : 0);
        return _mm512_mask_add_epi8(q, static_cast<__mmask64>(qh), q, _mm512_set1_epi8(0x10));
    }
    static __m128 scales(const block * x0, const block * x1) { return f16_pair(x0->d, x1 ? x1->d : 0); }
};

struct t_q8_0 {
    using block                = block_q8_0;
    static constexpr int shift = 128;
    static __m512i codes(const block * x0, const block * x1) {
        const __m512i q = join(load256(x0->qs), x1 ? load256(x1->qs) : _mm256_setzero_si256());
        return _mm512_xor_si512(q, _mm512_set1_epi8(-128));
    }
    static __m128 scales(const block * x0, const block * x1) { return f16_pair(x0->d, x1 ? x1->d : 0); }
};

struct t_mxfp4 {
    using block                = block_mxfp4;
    static constexpr int shift = 128;
    static __m512i codes(const block * x0, const block * x1) {
        // kvalues + 128 as unsigned bytes, in every 128-bit lane for vpshufb.
        const __m512i table = _mm512_broadcast_i32x4(_mm_setr_epi8(
            static_cast<char>(128), static_cast<char>(129), static_cast<char>(130), static_cast<char>(131),
            static_cast<char>(132), static_cast<char>(134), static_cast<char>(136), static_cast<char>(140),
            static_cast<char>(128), static_cast<char>(127), static_cast<char>(126), static_cast<char>(125),
            static_cast<char>(124), static_cast<char>(122), static_cast<char>(120), static_cast<char>(116)));
        return _mm512_shuffle_epi8(table, nibbles_pair(x0->qs, x1 ? x1->qs : nullptr));
    }
    static __m128 scales(const block * x0, const block * x1) {
        return _mm_setr_ps(e8m0_half_x86(x0->e), x1 ? e8m0_half_x86(x1->e) : 0.0f, 0.0f, 0.0f);
    }
};

struct t_q4_1 {
    using block = block_q4_1;
    static __m512i codes(const block * x0, const block * x1) { return nibbles_pair(x0->qs, x1 ? x1->qs : nullptr); }
};

struct t_q5_1 {
    using block = block_q5_1;
    static __m512i codes(const block * x0, const block * x1) {
        const __m512i  q  = nibbles_pair(x0->qs, x1 ? x1->qs : nullptr);
        const uint64_t qh = load_u32(x0->qh) | (x1 ? static_cast<uint64_t>(load_u32(x1->qh)) << 32 : 0);
        return _mm512_mask_add_epi8(q, static_cast<__mmask64>(qh), q, _mm512_set1_epi8(0x10));
    }
};

// Weight types with Q8_0 activations: acc += cvt(sum((q + k) * a) - k * sum(a)) * (dw * da).
template <typename T, int R>
void rows_q8_0_act(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    using block    = typename T::block;
    const auto * y = static_cast<const block_q8_0 *>(act);
    const block * x[R];
    __m512        acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
    }
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; b += 2) {
        const bool    two  = b + 1 < nb;
        const __m512i a    = join(load256(y[b].qs), two ? load256(y[b + 1].qs) : _mm256_setzero_si256());
        const __m128  da   = f16_pair(y[b].d, two ? y[b + 1].d : 0);
        const __m512i koff = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(T::shift)), a);
        const __m512i neg  = _mm512_sub_epi32(_mm512_setzero_si512(), koff);
        for (int r = 0; r < R; ++r) {
            const block * x1   = two ? &x[r][b + 1] : nullptr;
            const __m512i isum = _mm512_dpbusd_epi32(neg, T::codes(&x[r][b], x1), a);
            const __m512  s    = spread_pair(_mm_mul_ps(T::scales(&x[r][b], x1), da));
            acc[r]             = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

// Unsigned codes with a min (Q4_1, Q5_1) and Q8_1 activations: + m * s per block, apart.
template <typename T, int R>
void rows_q8_1_act(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    using block    = typename T::block;
    const auto * y = static_cast<const block_q8_1 *>(act);
    const block * x[R];
    __m512        acc[R];
    float         ms[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
        ms[r]  = 0.0f;
    }
    const int64_t nb = n / QK8_1;
    for (int64_t b = 0; b < nb; b += 2) {
        const bool    two = b + 1 < nb;
        const __m512i a   = join(load256(y[b].qs), two ? load256(y[b + 1].qs) : _mm256_setzero_si256());
        const __m128  da  = f16_pair(y[b].d, two ? y[b + 1].d : 0);
        const float   s0 = f16_to_f32_x86(y[b].s), s1 = two ? f16_to_f32_x86(y[b + 1].s) : 0.0f;
        for (int r = 0; r < R; ++r) {
            const block * x0   = &x[r][b];
            const block * x1   = two ? &x[r][b + 1] : nullptr;
            const __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), T::codes(x0, x1), a);
            const __m512  s    = spread_pair(_mm_mul_ps(f16_pair(x0->d, x1 ? x1->d : 0), da));
            acc[r]             = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[r]);
            ms[r] += f16_to_f32_x86(x0->m) * s0;
            if (two) {
                ms[r] += f16_to_f32_x86(x1->m) * s1;
            }
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]) + ms[r];
    }
}

// ---- float weights with F32 activations: two 16-lane accumulators per row, masked tail ----

struct f_f32 {
    static __m512 load(const uint8_t * p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
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
            acc0[r] = _mm512_fmadd_ps(F::load(x[r] + i * F::bytes, m0), a0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(F::load(x[r] + (i + 16) * F::bytes, m1), a1, acc1[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
    }
}

template <typename T, int R>
struct k_q8_0_act {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) { rows_q8_0_act<T, R>(n, w, s, a, o); }
};
template <typename T, int R>
struct k_q8_1_act {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) { rows_q8_1_act<T, R>(n, w, s, a, o); }
};
template <typename F, int R>
struct k_float {
    static void run(int64_t n, const void * w, uint64_t s, const void * a, float * o) { rows_float<F, R>(n, w, s, a, o); }
};

template <template <typename, int> class K, typename T>
void dot_grouped(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    for_row_groups<K<T, k_row_group>::run, K<T, 1>::run>(n, w, stride, n_rows, act, out);
}

}  // namespace

// K-quant kernels live in avx512_dot_k.cpp.
void dot_q2_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q3_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q4_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q5_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q6_k_avx512(int64_t, const void *, uint64_t, int64_t, const void *, float *);

const type_kernels * avx512_kernels(ggml_type t) {
    static const type_kernels f32   = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_float, f_f32>};
    static const type_kernels f16   = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_float, f_f16>};
    static const type_kernels bf16  = {act_format::F32, quantize_act_f32_ref, dot_grouped<k_float, f_bf16>};
    static const type_kernels q4_0  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q8_0_act, t_q4_0>};
    static const type_kernels q4_1  = {act_format::Q8_1, quantize_act_q8_1_avx2, dot_grouped<k_q8_1_act, t_q4_1>};
    static const type_kernels q5_0  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q8_0_act, t_q5_0>};
    static const type_kernels q5_1  = {act_format::Q8_1, quantize_act_q8_1_avx2, dot_grouped<k_q8_1_act, t_q5_1>};
    static const type_kernels q8_0  = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q8_0_act, t_q8_0>};
    static const type_kernels mxfp4 = {act_format::Q8_0, quantize_act_q8_0_avx2, dot_grouped<k_q8_0_act, t_mxfp4>};
    static const type_kernels q2_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q2_k_avx512};
    static const type_kernels q3_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q3_k_avx512};
    static const type_kernels q4_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q4_k_avx512};
    static const type_kernels q5_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q5_k_avx512};
    static const type_kernels q6_k  = {act_format::Q8_K, quantize_act_q8_k_avx2, dot_q6_k_avx512};
    switch (t) {
        case ggml_type::F32: return &f32;
        case ggml_type::F16: return &f16;
        case ggml_type::BF16: return &bf16;
        case ggml_type::Q4_0: return &q4_0;
        case ggml_type::Q4_1: return &q4_1;
        case ggml_type::Q5_0: return &q5_0;
        case ggml_type::Q5_1: return &q5_1;
        case ggml_type::Q8_0: return &q8_0;
        case ggml_type::MXFP4: return &mxfp4;
        case ggml_type::Q2_K: return &q2_k;
        case ggml_type::Q3_K: return &q3_k;
        case ggml_type::Q4_K: return &q4_k;
        case ggml_type::Q5_K: return &q5_k;
        case ggml_type::Q6_K: return &q6_k;
        default: return nullptr;
    }
}

}  // namespace sluice::kern
#endif
