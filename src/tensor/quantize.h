// Converting whole rows between F32 and the stored types. Dequantization is bit-exact with
// llama.cpp's reference for every computable type; quantization exists for the types sluice
// writes (test models, re-quantized bundles, lower-precision expert copies).
#pragma once

#include "tensor/types.h"

#include <cstdint>
#include <string_view>

namespace sluice {

// dst[0..n) = the F32 values of n elements stored at src in type t.
// n must be a multiple of the block size; t must be computable (throws otherwise).
void dequantize_row(ggml_type t, const void * src, float * dst, int64_t n);

// Whether quantize_row supports t: F32, F16, BF16, Q8_0, Q4_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS,
// TQ1_0, TQ2_0.
bool can_quantize(ggml_type t);

// The names of the types can_quantize accepts, comma-separated, for help texts and errors.
std::string_view quantizable_type_names();

// Stores n F32 values as type t at dst (row_bytes(t, n) bytes). Q8_0 and Q4_0 follow
// llama.cpp's reference rounding exactly (same bytes); the K-quants search their scales
// (the bytes may differ from llama.cpp's, the error is comparable), as do IQ4_NL / IQ4_XS;
// TQ1_0 / TQ2_0 match llama.cpp's bytes. Throws if unsupported.
void quantize_row(ggml_type t, const float * src, void * dst, int64_t n);

}  // namespace sluice
