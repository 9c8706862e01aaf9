// Looking up an architecture's tensors with their expected shapes. Every mismatch is an
// error naming the file, the tensor, its shape and the offset of its info in the file.
#pragma once

#include "gguf/gguf.h"
#include "kernels/kernels.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

// A matrix of `rows` x `cols` (GGUF dims [cols, rows]) of a computable type.
weight_matrix require_matrix(const gguf_file & f, const std::string & name, int64_t cols, int64_t rows);

// Like require_matrix, but absent is fine (nullopt-like: data == nullptr).
weight_matrix optional_matrix(const gguf_file & f, const std::string & name, int64_t cols, int64_t rows);

// A vector of n elements (norm weights), converted to F32.
std::vector<float> require_vector(const gguf_file & f, const std::string & name, int64_t n);

}  // namespace sluice
