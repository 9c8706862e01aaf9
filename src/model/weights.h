// Looking up an architecture's tensors with their expected shapes. Every mismatch is an
// error naming the file, the tensor, its shape and the offset of its info in the file.
#pragma once

#include "experts/expert_store.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "model/tensor_table.h"

#include <cstdint>
#include <span>
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

// The tensors of one block as the architecture's table describes them (model/tensor_table.h):
// each lookup takes the name (and suffix) alone, and the table gives the shape to check.
class block_tensors {
  public:
    block_tensors(const gguf_file & f, std::span<const tensor_spec> table, const model_hparams & hp, int64_t layer)
        : f_(f), table_(table), dims_(hp), layer_(layer) {}

    std::string name(std::string_view t, std::string_view suffix = "weight") const;

    // A 2-D matrix, rows = the shape's ne[1].
    weight_matrix matrix(std::string_view t, std::string_view suffix = "weight") const;
    // A 1-D tensor (norm weights, biases), converted to F32.
    std::vector<float> vector(std::string_view t, std::string_view suffix = "weight") const;
    // An F32 tensor used in place, as a view into the mapping: per-expert biases, too many to
    // copy for nothing.
    const float * f32_view(std::string_view t, std::string_view suffix = "weight") const;
    // A tensor of any rank after its shape and type are checked (MLA's per-head k_b / v_b).
    const gguf_tensor & tensor(std::string_view t, std::string_view suffix = "weight") const;
    // Whether an optional tensor (tensor_spec::optional) is in the file.
    bool has(std::string_view t, std::string_view suffix = "weight") const;
    // The tensors of the table's EXPERTS role (ffn_{gate,up,down}_exps); expert_store checks
    // their shapes.
    expert_layer_tensors experts() const;

    const tensor_dims & dims() const { return dims_; }

  private:
    // The table's entry (a name the table lacks, or one this block does not have, is a bug).
    const tensor_spec & spec(std::string_view t, std::string_view suffix) const;

    const gguf_file &            f_;
    std::span<const tensor_spec> table_;
    tensor_dims                  dims_;
    int64_t                      layer_;
};

}  // namespace sluice
