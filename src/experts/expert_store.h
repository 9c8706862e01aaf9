// Where each routed expert's three matrices lie. GGUF stores a layer's experts stacked in
// three tensors (ffn_gate_exps, ffn_up_exps: [d, ff, E]; ffn_down_exps: [ff, d, E]), so
// expert e of a layer is the e-th slab of each. The store knows those slabs (file offsets,
// bytes, types); expert sources hand out views of them, the streaming cache reads them.
#pragma once

#include "experts/expert_shard.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

// The three matrices of one expert (SwiGLU: down(silu(gate x) * up x)).
struct expert_matrices {
    weight_matrix gate;  // ff rows x d cols
    weight_matrix up;    // ff rows x d cols
    weight_matrix down;  // d rows x ff cols
};

// The stacked tensors of one MoE layer; all three null for a dense block.
struct expert_layer_tensors {
    const gguf_tensor * gate = nullptr;
    const gguf_tensor * up   = nullptr;
    const gguf_tensor * down = nullptr;
};

// One slab of a stacked tensor: an expert's matrix as it lies in the file.
struct expert_slab {
    ggml_type type;
    int64_t   rows;
    int64_t   cols;
    uint64_t  file_offset;  // absolute, from the start of its file
    uint64_t  nbytes;
    uint32_t  part = 0;  // its file: a split model's part (gguf_file::part)
};

class expert_store {
  public:
    // Layers are the model's blocks, numbered as in the file; a dense block (deepseek2's
    // leading layers) has null tensors and no experts.
    // Checks every layer's three tensors against the model's geometry (gate/up [d, ff, E],
    // down [ff, d, E], a computable type); throws naming the tensor otherwise.
    expert_store(const gguf_file & file, std::vector<expert_layer_tensors> layers, int64_t n_embd, int64_t n_ff,
                 int n_expert);

    int     n_layer() const { return static_cast<int>(layers_.size()); }
    bool    has_experts(int layer) const { return layers_[layer].gate != nullptr; }
    int     n_expert() const { return n_expert_; }
    int64_t n_embd() const { return n_embd_; }
    int64_t n_ff() const { return n_ff_; }
    // The files the slabs lie in (expert_slab::part indexes them): the model's, or its parts.
    std::vector<std::string> part_paths() const { return file_.part_paths(); }
    // The file the slabs lie in.
    const gguf_file & file() const { return file_; }

    // The same experts in another file (a shadow from `sluice quantize --expert-shadow`, in
    // any type): its tensors of the same names, checked against the same geometry. Throws
    // naming a tensor the file lacks or gives another shape.
    expert_store in_other_file(const gguf_file & other) const;

    // Views into the mapped file of expert e of layer l.
    expert_matrices view(int layer, int expert) const;

    // Where the bytes of expert e of layer l lie: gate, up, down.
    expert_slab slab_gate(int layer, int expert) const { return slab(layer, layers_[layer].gate, expert); }
    expert_slab slab_up(int layer, int expert) const { return slab(layer, layers_[layer].up, expert); }
    expert_slab slab_down(int layer, int expert) const { return slab(layer, layers_[layer].down, expert); }

    // Bytes of one expert's three matrices in layer l (0 for a dense block).
    uint64_t expert_bytes(int layer) const;
    // The same for every layer: what one read of an expert moves, as the cache counts it.
    std::vector<uint64_t> expert_bytes_per_layer() const;
    // Bytes of every routed expert of every layer (of a shard: the ones it holds).
    uint64_t total_bytes() const;

    // A shard file (`sluice shard`) holds one rank's experts: which, and the whole partition;
    // nullopt for a whole model. Views and slabs of another rank's expert throw.
    const std::optional<expert_shard> & shard() const { return shard_; }

  private:
    expert_slab slab(int layer, const gguf_tensor * t, int expert) const;

    const gguf_file &                 file_;
    std::vector<expert_layer_tensors> layers_;
    int                               n_expert_ = 0;
    int64_t                           n_embd_   = 0;
    int64_t                           n_ff_     = 0;
    std::optional<expert_shard>       shard_;
    std::vector<std::vector<int>>     local_;  // shard: [layer][expert] -> index in the stack, -1 absent
};

}  // namespace sluice
