// AVX-512 dot products of the K-quants with Q8_K activations. Per super-block, four rows share
// the activation loads (and any lane shuffles of them). Codes are unsigned (0..3, 0..7, 0..15,
// 0..31, 0..63); maddubs multiplies them with the int8 activations into int16 pairs and VNNI
// dpwssd applies the per-sub-block int16 scales into int32 lanes, so a super-block is reduced
// exactly in integers and scaled by one float FMA. Offsets (mins, Q3_K's -4, Q6_K's -32) come
// from the activation's bsums.
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_k_blocks.h"
#include "kernels/x86/avx512_lanes_k.h"
#include "kernels/x86/x86_common.h"

namespace sluice::kern {
namespace {

using namespace x86;

// The load and scale helpers are the tile kernels' (avx512_k_blocks.h).
using kblocks::dup256;
using kblocks::join256;
using kblocks::ld256;
using kblocks::ld512;
using kblocks::scale_idx;
using kblocks::scaled_dot;

inline __m512i spread(__m512i sc16, __m512i idx) {
    return _mm512_permutexvar_epi16(idx, sc16);
}

inline float finish(__m512 acc, __m256 accm) {
    return _mm512_reduce_add_ps(acc) + hsum_ps256(accm);
}

// Q4_K / Q5_K / Q6_K: the row-lanes kernels (avx512_lanes_k.h).

// ---- Q2_K / Q3_K ----
// The 64 bytes of qs shifted by 2j give, in the low 32 bytes, elements 32j + [0, 32) and in
// the high 32 bytes elements 128 + 32j + [0, 32): sub-blocks 2j, 2j+1, 8+2j, 9+2j.
struct act_q23 {
    __m512i a[4];
    __m256i bsums;
    float   d;
    explicit act_q23(const block_q8_K & y) {
        for (int j = 0; j < 4; ++j) {
            a[j] = join256(ld256(y.qs + 32 * j), ld256(y.qs + 128 + 32 * j));
        }
        bsums = ld256(y.bsums);
        d     = y.d;
    }
};

template <int R>
void rows_q2_k(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *       y = static_cast<const block_q8_K *>(act);
    const block_q2_K * x[R];
    __m512             acc[R];
    __m256             accm[R];
    for (int r = 0; r < R; ++r) {
        x[r]    = reinterpret_cast<const block_q2_K *>(row_ptr(w, stride, r));
        acc[r]  = _mm512_setzero_ps();
        accm[r] = _mm256_setzero_ps();
    }
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const act_q23 a(y[b]);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block_q2_K)>(x[r] + b, R * stride);
            const block_q2_K & xb  = x[r][b];
            const __m128i      sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(xb.scales));
            const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(0x0F))));
            const __m256i m16  = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
            const __m512i q    = ld512(xb.qs);
            __m512i       isum = _mm512_setzero_si512();
            for (int j = 0; j < 4; ++j) {
                const __m512i qj = _mm512_and_si512(_mm512_srli_epi16(q, 2 * j), m3);
                isum = scaled_dot(isum, qj, a.a[j], spread(sc16, scale_idx(2 * j, 2 * j + 1, 8 + 2 * j, 9 + 2 * j)));
            }
            const __m256i msum = _mm256_madd_epi16(m16, a.bsums);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(a.d * f16_to_f32_x86(xb.d)), acc[r]);
            accm[r] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-(a.d * f16_to_f32_x86(xb.dmin))), accm[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = finish(acc[r], accm[r]);
    }
}

template <int R>
void rows_q3_k(int64_t n, const void * w, uint64_t stride, const void * act, float * out) {
    const auto *       y = static_cast<const block_q8_K *>(act);
    const block_q3_K * x[R];
    __m512             acc[R];
    for (int r = 0; r < R; ++r) {
        x[r]   = reinterpret_cast<const block_q3_K *>(row_ptr(w, stride, r));
        acc[r] = _mm512_setzero_ps();
    }
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const act_q23 a(y[b]);
        for (int r = 0; r < R; ++r) {
            prefetch_ahead<sizeof(block_q3_K)>(x[r] + b, R * stride);
            const block_q3_K & xb   = x[r][b];
            const __m128i      sc8  = _mm_sub_epi8(unpack_scales_q3_k_x86(xb.scales), _mm_set1_epi8(32));
            const __m256i      sc16 = _mm256_cvtepi8_epi16(sc8);
            const __m512i      scz  = _mm512_castsi256_si512(sc16);
            const __m512i      q    = ld512(xb.qs);
            const __m512i      hm   = dup256(xb.hmask);
            __m512i            isum = _mm512_setzero_si512();
            for (int j = 0; j < 4; ++j) {
                // Codes + 4 (0..7): hmask bit j (first half) or 4+j (second) set means "no -4".
                const __m512i   bits = join256(_mm256_set1_epi8(static_cast<char>(1 << j)),
                                               _mm256_set1_epi8(static_cast<char>(1 << (4 + j))));
                const __mmask64 k    = _mm512_test_epi8_mask(hm, bits);
                __m512i         qj   = _mm512_and_si512(_mm512_srli_epi16(q, 2 * j), m3);
                qj                   = _mm512_mask_add_epi8(qj, k, qj, _mm512_set1_epi8(4));
                isum = scaled_dot(isum, qj, a.a[j], spread(scz, scale_idx(2 * j, 2 * j + 1, 8 + 2 * j, 9 + 2 * j)));
            }
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, a.bsums), 2);
            isum               = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(a.d * f16_to_f32_x86(xb.d)), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

}  // namespace

void dot_q2_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<rows_q2_k<k_row_group>, rows_q2_k<1>>(n, w, s, r, a, o);
}
void dot_q3_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_row_groups<rows_q3_k<k_row_group>, rows_q3_k<1>>(n, w, s, r, a, o);
}
void dot_q4_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    lanes::q45_dot_rows<block_q4_K, false>(n, w, s, r, a, o);
}
void dot_q5_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    lanes::q45_dot_rows<block_q5_K, true>(n, w, s, r, a, o);
}
void dot_q6_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    lanes::q6_dot_rows(n, w, s, r, a, o);
}
using l_q4_k = lanes::q45_kind<block_q4_K, false>;
using l_q5_k = lanes::q45_kind<block_q5_K, true>;

void dot_tile_q4_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, uint64_t as, int64_t nt,
                          float * o, uint64_t os, void * scratch) {
    lanes::dot_tile<l_q4_k, dot_q4_k_avx512>(n, w, s, r, a, as, nt, o, os, scratch);
}
void dot_tile_q5_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, uint64_t as, int64_t nt,
                          float * o, uint64_t os, void * scratch) {
    lanes::dot_tile<l_q5_k, dot_q5_k_avx512>(n, w, s, r, a, as, nt, o, os, scratch);
}
void dot_tile_q6_k_avx512(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, uint64_t as, int64_t nt,
                          float * o, uint64_t os, void * scratch) {
    lanes::dot_tile<lanes::q6_kind, dot_q6_k_avx512>(n, w, s, r, a, as, nt, o, os, scratch);
}
uint64_t tile_scratch_q4_k_avx512(int64_t n, int64_t n_tok) {
    return lanes::tile_scratch<l_q4_k>(n, n_tok);
}
uint64_t tile_scratch_q5_k_avx512(int64_t n, int64_t n_tok) {
    return lanes::tile_scratch<l_q5_k>(n, n_tok);
}
uint64_t tile_scratch_q6_k_avx512(int64_t n, int64_t n_tok) {
    return lanes::tile_scratch<lanes::q6_kind>(n, n_tok);
}

// The K-quants' stored forms are size-neutral: matrices of them can be packed at load.
template <typename K>
constexpr packed_kernels    packed_kind        = {lanes::pack_rows<K>, lanes::dot_packed<K>, lanes::packed_scratch<K>};
extern const packed_kernels packed_q4_k_avx512 = packed_kind<l_q4_k>;
extern const packed_kernels packed_q5_k_avx512 = packed_kind<l_q5_k>;
extern const packed_kernels packed_q6_k_avx512 = packed_kind<lanes::q6_kind>;

}  // namespace sluice::kern
#endif
