// Kernel lab, AVX-512 side: the register-tile shapes of src/kernels/x86/avx512_tile.h that
// gemm_bench.cpp times against each other. Compiled with the AVX-512 flags (the file name);
// called only after the CPUID check in gemm_bench.cpp. The table in src/kernels takes the
// winner (tile512::k_tile_rows x k_tile_tokens).
#include "gemm_lab.h"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_tile.h"

namespace sluice::lab {
namespace {

using namespace kern::tile512;

// Q4_K / Q5_K, first try (v1..v9): one 8-lane min accumulator per (row, token) and scalar
// scale products. The table's kernel (p1..p6) pairs the min accumulators of two tokens.
template <typename block, bool has_qh>
struct k_q45_k_unpaired {
    template <int R, int T>
    static void run(int64_t n, const uint8_t * w, uint64_t stride, const uint8_t * act, uint64_t act_stride,
                    float * out, int64_t out_stride) {
        const tile_ptrs<R, T> p(w, stride, act, act_stride);
        __m512                acc[R][T];
        __m256                accm[R][T];
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                acc[r][t]  = _mm512_setzero_ps();
                accm[r][t] = _mm256_setzero_ps();
            }
        }
        for (int64_t b = 0; b < n / QK_K; ++b) {
            act_q45 a[T];
            for (int t = 0; t < T; ++t) {
                a[t].load(reinterpret_cast<const block_q8_K *>(p.y[t])[b]);
            }
            for (int r = 0; r < R; ++r) {
                const block & xb = reinterpret_cast<const block *>(p.x[r])[b];
                prefetch_ahead<sizeof(block)>(&xb, R * stride);
                const q45_block<has_qh> x(xb);
                const __m256i &         mins = x.mins;
                const __m512i *         q = x.q, *sc = x.sc;
                const float             d = f16_to_f32_x86(xb.d), dmin = f16_to_f32_x86(xb.dmin);
                for (int t = 0; t < T; ++t) {
                    const __m256i msum = _mm256_madd_epi16(mins, a[t].bsums);
                    const __m512i isum = q45_isum(q, sc, a[t]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(a[t].d * d), acc[r][t]);
                    accm[r][t] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-(a[t].d * dmin)), accm[r][t]);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int t = 0; t < T; ++t) {
                out[t * out_stride + r] = _mm512_reduce_add_ps(acc[r][t]) + hsum_ps256(accm[r][t]);
            }
        }
    }
};

template <typename K>
std::vector<tile_variant> shapes() {
    return {
        {"v1 4x1", dot_tile<K, 4, 1>}, {"v2 4x2", dot_tile<K, 4, 2>}, {"v3 4x4", dot_tile<K, 4, 4>},
        {"v4 2x4", dot_tile<K, 2, 4>}, {"v5 2x8", dot_tile<K, 2, 8>}, {"v6 1x8", dot_tile<K, 1, 8>},
        {"v7 3x4", dot_tile<K, 3, 4>}, {"v8 4x3", dot_tile<K, 4, 3>}, {"v9 1x4", dot_tile<K, 1, 4>},
    };
}

template <typename K, typename K2>
std::vector<tile_variant> shapes_and_paired() {
    std::vector<tile_variant> v = shapes<K>();
    v.push_back({"p1 4x4", dot_tile<K2, 4, 4>});
    v.push_back({"p2 4x2", dot_tile<K2, 4, 2>});
    v.push_back({"p3 2x4", dot_tile<K2, 2, 4>});
    v.push_back({"p4 2x6", dot_tile<K2, 2, 6>});
    v.push_back({"p5 4x3", dot_tile<K2, 4, 3>});
    v.push_back({"p6 3x4", dot_tile<K2, 3, 4>});
    return v;
}

}  // namespace

std::vector<tile_variant> avx512_tile_variants(ggml_type t) {
    switch (t) {
        case ggml_type::Q8_0:
            return shapes<k_q8_0>();
        case ggml_type::Q4_K:
            return shapes_and_paired<k_q45_k_unpaired<block_q4_K, false>, k_q45_k<block_q4_K, false>>();
        case ggml_type::Q5_K:
            return shapes_and_paired<k_q45_k_unpaired<block_q5_K, true>, k_q45_k<block_q5_K, true>>();
        case ggml_type::Q6_K:
            return shapes<k_q6_k>();
        default:
            return {};
    }
}

}  // namespace sluice::lab
#else
namespace sluice::lab {
std::vector<tile_variant> avx512_tile_variants(ggml_type) {
    return {};
}
}  // namespace sluice::lab
#endif
