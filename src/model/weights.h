// Looking up an architecture's tensors with their expected shapes. Every mismatch is an
// error naming the file, the tensor, its shape and the offset of its info in the file.
#pragma once

#include "experts/expert_store.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// A matrix of `rows` x `cols` (GGUF dims [cols, rows]) of a computable type.
weight_matrix require_matrix(const gguf_file & f, const std::string & name, int64_t cols, int64_t rows);

// Like require_matrix, but absent is fine (nullopt-like: data == nullptr).
weight_matrix optional_matrix(const gguf_file & f, const std::string & name, int64_t cols, int64_t rows);

// A vector of n elements (norm weights), converted to F32.
std::vector<float> require_vector(const gguf_file & f, const std::string & name, int64_t n);

// An F32 tensor of shape [ne0, ne1] (ne1 == 0: [ne0]) used in place, as a view into the
// mapping: per-expert biases, too many to copy for nothing.
const float * require_f32_view(const gguf_file & f, const std::string & name, int64_t ne0, int64_t ne1 = 0);

// The tensors of one block, named "blk.<layer>.<name>.<suffix>" as llama.cpp names them.
class block_tensors {
  public:
    block_tensors(const gguf_file & f, int64_t layer) : f_(f), layer_(layer) {}

    std::string name(std::string_view t, std::string_view suffix = "weight") const;

    weight_matrix matrix(std::string_view t, int64_t cols, int64_t rows) const {
        return require_matrix(f_, name(t), cols, rows);
    }
    std::vector<float> vector(std::string_view t, int64_t n, std::string_view suffix = "weight") const {
        return require_vector(f_, name(t, suffix), n);
    }
    const float * f32_view(std::string_view t, std::string_view suffix, int64_t ne0, int64_t ne1 = 0) const {
        return require_f32_view(f_, name(t, suffix), ne0, ne1);
    }
    // ffn_{gate,up,down}_exps.weight; expert_store checks their shapes.
    expert_layer_tensors experts() const;

  private:
    const gguf_file & f_;
    int64_t           layer_;
};

}  // namespace sluice
