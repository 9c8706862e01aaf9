// Kernel lab, AVX-512 side: the tokens per tile of the row-lanes kernels
// (src/kernels/x86/avx512_row_lanes.h; the table takes K::tile_tokens) that gemm_bench.cpp times
// against each other. Compiled with the AVX-512 flags (the file name); called only after the
// CPUID check in gemm_bench.cpp.
#include "gemm_lab.h"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_lanes_k.h"
#include "kernels/x86/avx512_lanes_q32.h"

namespace sluice::lab {
namespace {

// The row-lanes kernels (avx512_row_lanes.h) with T tokens per tile.
template <int T, int G = 2>
constexpr kern::dot_tile_fn l_q8_0 = kern::lanes::dot_tile<kern::lanes::q32_kind<kern::lanes::c_q8_0>,
                                                           kern::lanes::q32_dot_rows<kern::lanes::c_q8_0>, T, G>;
template <int T, int G = 2>
constexpr kern::dot_tile_fn l_q6 = kern::lanes::dot_tile<kern::lanes::q6_kind, kern::lanes::q6_dot_rows, T, G>;
template <typename block, bool has_qh, int T, int G = 2>
constexpr kern::dot_tile_fn l_q45 =
    kern::lanes::dot_tile<kern::lanes::q45_kind<block, has_qh>, kern::lanes::q45_dot_rows<block, has_qh>, T, G>;

template <int T, int G>
constexpr kern::dot_tile_fn p_q8_0 = kern::lanes::dot_packed_tiles<kern::lanes::q32_kind<kern::lanes::c_q8_0>, T, G>;
template <typename block, bool has_qh, int T, int G>
constexpr kern::dot_tile_fn p_q45 = kern::lanes::dot_packed_tiles<kern::lanes::q45_kind<block, has_qh>, T, G>;

}  // namespace

std::vector<tile_variant> avx512_packed_variants(ggml_type t) {
    switch (t) {
        case ggml_type::Q8_0:
            return {{"p-g1t4", p_q8_0<4, 1>},   {"p-g1t6", p_q8_0<6, 1>}, {"p-g1t8", p_q8_0<8, 1>},
                    {"p-g1t12", p_q8_0<12, 1>}, {"p-g2t6", p_q8_0<6, 2>}, {"p-g2t3", p_q8_0<3, 2>}};
        case ggml_type::Q4_K:
            return {{"p-g1t6", p_q45<block_q4_K, false, 6, 1>},
                    {"p-g1t8", p_q45<block_q4_K, false, 8, 1>},
                    {"p-g1t12", p_q45<block_q4_K, false, 12, 1>},
                    {"p-g2t8", p_q45<block_q4_K, false, 8, 2>}};
        default:
            return {};
    }
}

std::vector<tile_variant> avx512_tile_variants(ggml_type t) {
    switch (t) {
        case ggml_type::Q8_0:
            return {{"g1t4", l_q8_0<4, 1>},
                    {"g2t2", l_q8_0<2>},
                    {"g2t3", l_q8_0<3>},
                    {"g2t4", l_q8_0<4>},
                    {"g2t6", l_q8_0<6>}};
        case ggml_type::Q4_K:
            return {{"g1t6", l_q45<block_q4_K, false, 6, 1>},
                    {"g2t2", l_q45<block_q4_K, false, 2>},
                    {"g2t3", l_q45<block_q4_K, false, 3>},
                    {"g2t4", l_q45<block_q4_K, false, 4>}};
        case ggml_type::Q5_K:
            return {{"g1t6", l_q45<block_q5_K, true, 6, 1>},
                    {"g2t3", l_q45<block_q5_K, true, 3>},
                    {"g2t4", l_q45<block_q5_K, true, 4>}};
        case ggml_type::Q6_K:
            return {{"g1t6", l_q6<6, 1>}, {"g2t3", l_q6<3>}, {"g2t4", l_q6<4>}};
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
std::vector<tile_variant> avx512_packed_variants(ggml_type) {
    return {};
}
}  // namespace sluice::lab
#endif
