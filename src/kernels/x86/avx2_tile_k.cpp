// AVX2 multi-token kernels (dot_tile) for Q5_K and Q6_K: each row's super-blocks are decoded
// once per call (decoded_tile.h) and then dotted with every token from L1. Per (row, token)
// the operations are those of the AVX2 dot_rows (avx2_dot_k.cpp: q45_k_block and row_q6_k)
// in the same order, so results equal dot_rows bit for bit; below k_decode_min_tokens tokens
// dot_rows runs once per token.
//
// Q4_K has none: its dot_rows is bound by the multiplies and its light decode (a mask and a
// shift per 32 codes) runs beside them, so decoding once saved nothing (kernel lab, --isa
// avx2 --copies 32: 0.96-1.03x at 16 and 64 tokens). Q5_K's fifth bits and Q6_K's high bits
// and scale pairs are what decoding once saves (1.4-1.6x).
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/kernels_impl.h"
#include "kernels/x86/decoded_tile.h"
#include "kernels/x86/x86_common.h"

namespace sluice::kern {

void dot_q5_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);
void dot_q6_k_avx2(int64_t, const void *, uint64_t, int64_t, const void *, float *);

namespace {

using namespace x86;

// AVX2 has 16 vector registers: 2 rows x 2 tokens keeps the four accumulators, the codes and
// the activations in registers (the kernel lab's choice, bench/gemm_bench.cpp --isa avx2).
constexpr int     k_rows              = 2;
constexpr int     k_tokens            = 2;
constexpr int64_t k_decode_min_tokens = 2 * k_tokens;

// A token's super-block, copied so that its blocks sit together in L1.
struct act_q8_k {
    block_q8_K y;
    void       load(const block_q8_K & src) { y = src; }
};

// out[t * out_stride + r] = the lane sum of acc[r][t].
template <int R, int T>
void store_sums(const __m256 (&acc)[R][T], float * out, int64_t out_stride) {
    for (int r = 0; r < R; ++r) {
        for (int t = 0; t < T; ++t) {
            out[t * out_stride + r] = hsum_ps256(acc[r][t]);
        }
    }
}

// ---- Q5_K (the decode of Q4_K too, whose tile is not used: see the top) ----
template <typename block, bool has_qh>
struct q45 {
    using w_unit                    = block;
    using a_unit                    = block_q8_K;
    static constexpr int64_t k_unit = QK_K;
    using act                       = act_q8_k;
    struct alignas(64) decoded {
        __m256i q[8];   // codes of sub-block j (chunk j / 2, low nibbles for even j, high for odd)
        __m256i mins;   // the eight mins, each twice, as int16 (lanes of the 16 bsums)
        __m256i sc[8];  // sub-block scales, broadcast to the int16 lanes
        float   d, dmin;
    };
    static void decode(const block & xb, decoded & dx) {
        uint64_t sc64, m64;
        unpack_scales_k4_x86(xb.scales, sc64, m64);
        for (int j = 0; j < 8; ++j) {
            dx.sc[j] = _mm256_set1_epi16(static_cast<int16_t>((sc64 >> (8 * j)) & 0xFF));
        }
        const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(m64));
        dx.mins =
            _mm256_cvtepu8_epi16(_mm_shuffle_epi8(m8, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)));
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i       h  = _mm256_setzero_si256();
        if constexpr (has_qh) {
            h = load256(xb.qh);
        }
        for (int c = 0; c < 4; ++c) {
            const __m256i q  = load256(xb.qs + 32 * c);
            __m256i       lo = _mm256_and_si256(q, m4);
            __m256i       hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if constexpr (has_qh) {
                lo = _mm256_or_si256(lo, bit_to(h, 1 << (2 * c), 16));
                hi = _mm256_or_si256(hi, bit_to(h, 1 << (2 * c + 1), 16));
            }
            dx.q[2 * c]     = lo;
            dx.q[2 * c + 1] = hi;
        }
        dx.d    = f16_to_f32_x86(xb.d);
        dx.dmin = f16_to_f32_x86(xb.dmin);
    }
    template <int R, int T>
    static void tile(int64_t nb, const decoded * xs, const act * as, float * out, int64_t out_stride) {
        __m256 acc[R][T] = {};
        for (int64_t b = 0; b < nb; ++b) {
            for (int r = 0; r < R; ++r) {
                const decoded & x = xs[b * R + r];
                for (int t = 0; t < T; ++t) {
                    const block_q8_K & y    = as[t * nb + b].y;
                    const __m256i      msum = _mm256_madd_epi16(x.mins, load256(y.bsums));
                    __m256i            isum = _mm256_setzero_si256();
                    for (int c = 0; c < 4; ++c) {
                        const __m256i plo =
                            _mm256_madd_epi16(_mm256_maddubs_epi16(x.q[2 * c], load256(y.qs + 64 * c)), x.sc[2 * c]);
                        const __m256i phi = _mm256_madd_epi16(
                            _mm256_maddubs_epi16(x.q[2 * c + 1], load256(y.qs + 64 * c + 32)), x.sc[2 * c + 1]);
                        isum = _mm256_add_epi32(isum, _mm256_add_epi32(plo, phi));
                    }
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(y.d * x.d), acc[r][t]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-(y.d * x.dmin)), acc[r][t]);
                }
            }
        }
        store_sums<R, T>(acc, out, out_stride);
    }
};

// ---- Q6_K ----
struct q6 {
    using w_unit                    = block_q6_K;
    using a_unit                    = block_q8_K;
    static constexpr int64_t k_unit = QK_K;
    using act                       = act_q8_k;
    struct alignas(64) decoded {
        __m256i q[8];   // codes 0..63 of quarter k of half h at 4h + k
        __m256i sp[8];  // the scale pair of each quarter (two 16-element sub-blocks)
        __m256i sc16;   // the sixteen scales as int16, for the bsums correction
        float   d;
    };
    static void decode(const block_q6_K & xb, decoded & dx) {
        const __m256i  m4  = _mm256_set1_epi8(0x0F);
        const __m256i  m30 = _mm256_set1_epi8(0x30);
        const int8_t * sc  = xb.scales;
        dx.sc16            = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(sc)));
        for (int half = 0; half < 2; ++half) {
            const __m256i l0 = load256(xb.ql + 64 * half);
            const __m256i l1 = load256(xb.ql + 64 * half + 32);
            const __m256i h  = load256(xb.qh + 32 * half);
            __m256i *     q  = dx.q + 4 * half;
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
            for (int k = 0; k < 4; ++k) {
                const int s         = 8 * half + 2 * k;
                dx.sp[4 * half + k] = _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(sc[s])),
                                                        _mm_set1_epi16(static_cast<int16_t>(sc[s + 1])));
            }
        }
        dx.d = f16_to_f32_x86(xb.d);
    }
    template <int R, int T>
    static void tile(int64_t nb, const decoded * xs, const act * as, float * out, int64_t out_stride) {
        __m256 acc[R][T] = {};
        for (int64_t b = 0; b < nb; ++b) {
            for (int r = 0; r < R; ++r) {
                const decoded & x = xs[b * R + r];
                for (int t = 0; t < T; ++t) {
                    const block_q8_K & y    = as[t * nb + b].y;
                    __m256i            isum = _mm256_setzero_si256();
                    for (int half = 0; half < 2; ++half) {
                        for (int k = 0; k < 4; ++k) {
                            const int     j = 4 * half + k;
                            const __m256i p = _mm256_madd_epi16(
                                _mm256_maddubs_epi16(x.q[j], load256(y.qs + 128 * half + 32 * k)), x.sp[j]);
                            isum = _mm256_add_epi32(isum, p);
                        }
                    }
                    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(x.sc16, load256(y.bsums)), 5));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(y.d * x.d), acc[r][t]);
                }
            }
        }
        store_sums<R, T>(acc, out, out_stride);
    }
};

template <typename D, dot_rows_fn rows>
void dot_tile(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, uint64_t act_stride,
              int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    if (n_tok < k_decode_min_tokens) {
        dot_rows_per_token(rows, n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride);
        return;
    }
    decoded::dot_tile<D, k_rows, k_tokens>(n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride, scratch);
}

template <typename D>
uint64_t scratch(int64_t n, int64_t n_tok) {
    return n_tok < k_decode_min_tokens ? 0 : decoded::scratch_bytes<D, k_rows>(n, n_tok);
}

using d_q5_k = q45<block_q5_K, true>;

}  // namespace

void dot_tile_q5_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, uint64_t as, int64_t nt,
                        float * o, uint64_t os, void * scratch) {
    dot_tile<d_q5_k, dot_q5_k_avx2>(n, w, s, r, a, as, nt, o, os, scratch);
}
void dot_tile_q6_k_avx2(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, uint64_t as, int64_t nt,
                        float * o, uint64_t os, void * scratch) {
    dot_tile<q6, dot_q6_k_avx2>(n, w, s, r, a, as, nt, o, os, scratch);
}
uint64_t tile_scratch_q5_k_avx2(int64_t n, int64_t n_tok) {
    return scratch<d_q5_k>(n, n_tok);
}
uint64_t tile_scratch_q6_k_avx2(int64_t n, int64_t n_tok) {
    return scratch<q6>(n, n_tok);
}

}  // namespace sluice::kern
#endif
