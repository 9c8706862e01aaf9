// The decoder skeleton the MoE architectures share: embeddings -> per block [attention
// sub-block, MoE sub-block] -> final norm -> logits. An architecture file reads its
// hyper-parameters, fills one block_weights per block from its tensor table and sets the
// few choices that are not tensors (RoPE pairing, q/k norm width, routing); which tensors are
// present decides the rest (biases, sinks, a shared expert). The forward pass lives here once.
#pragma once

#include "experts/expert_store.h"
#include "model/layers.h"
#include "model/moe.h"
#include "model/token_io.h"
#include "model/weights.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class gguf_file;

// What differs between architectures and is not a tensor.
struct transformer_variant {
    rope_style  rope         = rope_style::NEOX;
    bool        qk_norm_full = false;  // q/k norms span the whole projection (OLMoE), not one head
    moe_options moe{};                 // routing and expert activation; per-block pointers are set by finish()
};

// One block's weights. Vectors are F32 copies (small); an empty one is an absent tensor.
struct block_weights {
    std::vector<float> attn_norm;         // [d]
    weight_matrix      wq{}, wk{}, wv{};  // q_dim x d, kv_dim x d, kv_dim x d
    weight_matrix      wo{};              // d x q_dim
    std::vector<float> bq, bk, bv, bo;    // projection biases (Qwen2-MoE q/k/v, gpt-oss all four)
    std::vector<float> q_norm, k_norm;    // [head_dim] per head, or [q_dim] / [kv_dim] (qk_norm_full)
    std::vector<float> sinks;             // [n_head] attention-sink logits (gpt-oss)
    int64_t            window = 0;        // sliding-window attention: keys per query; 0: all previous

    std::vector<float>           ffn_norm;     // [d] applied before the router (and the experts)
    weight_matrix                router{};     // n_expert x d
    std::vector<float>           router_bias;  // [n_expert] added to the router logits (gpt-oss)
    expert_layer_tensors         experts;      // stacked ffn_{gate,up,down}_exps, handed to the expert store
    const float *                gate_exps_bias = nullptr;  // [n_expert][ff] views into the mapping (gpt-oss)
    const float *                up_exps_bias   = nullptr;  // [n_expert][ff]
    const float *                down_exps_bias = nullptr;  // [n_expert][d]
    std::optional<shared_expert> shared;                    // Qwen2-MoE; gate_inp points into shared_gate_inp
    std::vector<float>           shared_gate_inp;
};

// Reads the tensors every block here has: attn_norm, attn_q/k/v/output, the norm before the
// FFN (`ffn_norm`; gpt-oss names it post_attention_norm), ffn_gate_inp and the stacked experts.
void read_standard_block(const block_tensors & t, const model_hparams & hp, block_weights & w,
                         std::string_view ffn_norm = "ffn_norm");

class moe_transformer final : public model {
  public:
    // Reads the embeddings, the final norm and the output matrix (tied to the embeddings
    // when output.weight is absent); the architecture then adds its blocks.
    moe_transformer(const gguf_file & f, model_hparams hp, const transformer_variant & v);

    // Appends block number n_blocks(); call finish() after the last.
    block_weights & add_block() { return layers_.emplace_back(); }
    // Builds the expert store (which checks the expert tensors) and the gates.
    void finish();

    const model_hparams &     hparams() const override { return hp_; }
    const expert_store &      experts() const override { return *experts_; }
    std::span<const moe_gate> gates() const override { return gates_; }

    void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx, float * logits,
                 bool all_logits) const override;
    // Shares the dense products and each chosen expert's weights across the sequences of the
    // step; RoPE, the KV cache and attention go per sequence. Same logits as forward().
    void forward_batch(std::span<model_state * const> states, std::span<const int32_t> tokens,
                       const forward_context & ctx, float * logits) const override;

  private:
    // Rows [row0, row0 + n) of a pass belong to one sequence, at positions pos0.. of its state.
    struct segment {
        model_state * state;
        int64_t       row0, n, pos0;
    };

    void attend(const block_weights & w, int64_t l, std::span<const segment> segs, const float * h, int64_t n,
                const forward_context & ctx, float * out) const;
    // The pass over rows from one or more sequences (prefill: one segment of n rows; batched
    // decode: n segments of one row). positions (nullptr: consecutive from segs[0].pos0) are
    // for the routing observer. Writes the logits of rows [first_logit_row, n).
    void run(std::span<const segment> segs, std::span<const int32_t> tokens, const int64_t * positions,
             const forward_context & ctx, float * logits, int64_t first_logit_row) const;

    const gguf_file &           file_;
    model_hparams               hp_;
    transformer_variant         v_;
    token_io                    io_;
    std::vector<block_weights>  layers_;
    std::vector<moe_options>    moe_;  // per block: v_.moe with the block's biases and shared expert
    std::optional<expert_store> experts_;
    std::vector<moe_gate>       gates_;
};

}  // namespace sluice
