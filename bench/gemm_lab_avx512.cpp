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

template <typename K>
std::vector<tile_variant> shapes() {
    return {
        {"v1 4x1", dot_tile<K, 4, 1>}, {"v2 4x2", dot_tile<K, 4, 2>}, {"v3 4x4", dot_tile<K, 4, 4>},
        {"v4 2x4", dot_tile<K, 2, 4>}, {"v5 2x8", dot_tile<K, 2, 8>}, {"v6 1x8", dot_tile<K, 1, 8>},
        {"v7 3x4", dot_tile<K, 3, 4>}, {"v8 4x3", dot_tile<K, 4, 3>}, {"v9 1x4", dot_tile<K, 1, 4>},
    };
}

}  // namespace

std::vector<tile_variant> avx512_tile_variants(ggml_type t) {
    switch (t) {
        case ggml_type::Q8_0:
            return shapes<k_q8_0>();
        case ggml_type::Q4_K:
            return shapes<k_q45_k<block_q4_K, false>>();
        case ggml_type::Q5_K:
            return shapes<k_q45_k<block_q5_K, true>>();
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
