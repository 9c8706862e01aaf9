// The kernel lab's variants (bench/gemm_bench.cpp): named multi-token kernels per ISA.
#pragma once

#include "kernels/kernels_impl.h"

#include <vector>

namespace sluice::lab {

struct tile_variant {
    const char *      name;
    kern::dot_tile_fn fn;
};

// R x T register-tile shapes of the AVX-512 multi-token kernels for t (empty where none).
std::vector<tile_variant> avx512_tile_variants(ggml_type t);

// The same shapes of the kernels on matrices packed at load (kernels.h: packed_kernels::dot).
std::vector<tile_variant> avx512_packed_variants(ggml_type t);

}  // namespace sluice::lab
