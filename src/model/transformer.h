// The one decoder every architecture runs: embeddings -> per block [RMSNorm -> attention
// variant -> residual; RMSNorm -> FFN variant -> residual] -> final norm -> logits.
// Attention variants: grouped-query attention (gqa.h: sliding window, sinks, output gate),
// multi-head latent attention (mla.h) and gated DeltaNet (delta_net.h); FFN variants: routed
// experts (with or without a shared expert) or a dense SwiGLU. An architecture file reads
// its hyper-parameters, fills one block_weights per block from its tensor table and sets the
// few choices that are not tensors (RoPE pairing, q/k norm width, routing); which tensors are
// present decides the rest (biases, sinks, a shared expert). The block loop lives here once,
// for prefill (one segment of n rows), batched decode (n segments of one row) and steps that
// mix both alike.
#pragma once

#include "experts/expert_store.h"
#include "experts/router.h"
#include "model/delta_net.h"
#include "model/gqa.h"
#include "model/layers.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/token_io.h"
#include "model/weights.h"

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice {

class gguf_file;

// What differs between architectures and is not a tensor.
struct transformer_variant {
    rope_style rope         = rope_style::NEOX;
    bool       qk_norm_full = false;  // q/k norms span the whole projection (OLMoE), not one head
    // Routing (scoring, normalisation, groups, scale); the per-block pointers (norm, weight,
    // biases) and n_expert / k are set by the transformer.
    router routing{};
    // Expert activation (SwiGLU or gpt-oss's clamped one); per-block pointers are set by finish().
    moe_options        moe{};
    mla_geometry       mla{};    // the MLA blocks' geometry (deepseek2)
    delta_net_geometry delta{};  // the DeltaNet blocks' geometry (qwen3next)
};

// A block's attention: one of the variants, with its weights.
using attention_weights = std::variant<gqa_weights, mla_weights, delta_net_weights>;

// One block's weights. Vectors are F32 copies (small); an empty one is an absent tensor.
struct block_weights {
    std::vector<float> attn_norm;  // [d]
    attention_weights  attn;       // gqa_weights unless the architecture sets another variant

    std::vector<float>   ffn_norm;                  // [d] applied before the router (and the experts)
    weight_matrix        router_matrix{};           // n_expert x d (ffn_gate_inp); data == nullptr: a dense FFN block
    std::vector<float>   router_bias;               // [n_expert] added to the router logits (gpt-oss)
    std::vector<float>   selection_bias;            // [n_expert] added to the scores for the choice only (DeepSeek-V3)
    expert_layer_tensors experts;                   // stacked ffn_{gate,up,down}_exps, handed to the expert store
    const float *        gate_exps_bias = nullptr;  // [n_expert][ff] views into the mapping (gpt-oss)
    const float *        up_exps_bias   = nullptr;  // [n_expert][ff]
    const float *        down_exps_bias = nullptr;  // [n_expert][d]
    // Routed blocks: a shared expert (Qwen2-MoE, DeepSeek, Qwen3-Next); gate_inp points into
    // shared_gate_inp. Dense blocks (no router): the FFN itself, gate-less.
    std::optional<shared_expert> shared;
    std::vector<float>           shared_gate_inp;

    gqa_weights & gqa() { return std::get<gqa_weights>(attn); }
};

// Reads the tensors every attention + MoE block has: attn_norm, attn_q/k/v/output, the norm
// before the FFN (`ffn_norm`; gpt-oss and Qwen3-Next name it post_attention_norm),
// ffn_gate_inp and the stacked experts.
void read_standard_block(const block_tensors & t, block_weights & w, std::string_view ffn_norm = "ffn_norm");

class moe_transformer final : public model {
  public:
    // Reads the embeddings, the final norm and the output matrix (tied to the embeddings
    // when output.weight is absent); the architecture then adds its blocks, reading them
    // through its tensor table.
    moe_transformer(const gguf_file & f, model_hparams hp, const transformer_variant & v,
                    std::span<const tensor_spec> table);

    // Block l's tensors, as the table describes them.
    block_tensors tensors(int64_t l) const { return block_tensors(file_, table_, hp_, l); }

    // Appends block number n_blocks(); call finish() after the last.
    block_weights & add_block() { return layers_.emplace_back(); }
    // Builds the expert store (which checks the expert tensors), the routers, and where each
    // block keeps its per-sequence state.
    void finish();

    const model_hparams &   hparams() const override { return hp_; }
    const expert_store &    experts() const override { return *experts_; }
    std::span<const router> routers() const override { return routers_; }

    std::unique_ptr<model_state> new_state(int64_t n_ctx, ggml_type kv_type) const override;

    void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx, float * logits,
                 bool all_logits) const override;
    void forward_batch(std::span<const sequence_feed> seqs, const forward_context & ctx, float * logits) const override;

  private:
    void attend(int64_t l, std::span<const segment> segs, const float * h, int64_t n, const forward_context & ctx,
                float * out) const;
    void feed_forward(int64_t l, const float * h, int64_t n, std::span<const int64_t> positions,
                      const forward_context & ctx, float * out) const;
    // The pass over rows from one or more sequences. positions: each row's position. Writes
    // the logits of rows [first_logit_row, n).
    void run(std::span<const segment> segs, std::span<const int32_t> tokens, std::span<const int64_t> positions,
             const forward_context & ctx, float * logits, bool all_logits) const;

    const gguf_file &            file_;
    model_hparams                hp_;
    transformer_variant          v_;
    std::span<const tensor_spec> table_;
    gqa_shape                    gqa_{};
    token_io                     io_;
    std::vector<block_weights>   layers_;
    std::vector<int64_t>         state_index_;  // per block: its layer in the KV cache or its recurrent state
    int64_t                      n_kv_layers_ = 0, n_recurrent_ = 0;
    bool                         latent_ = false;  // the KV cache holds MLA's latent rows
    std::vector<moe_options>     moe_;             // per block: v_.moe with the block's biases and shared expert
    std::vector<router>          routers_;         // per block
    std::optional<expert_store>  experts_;
};

}  // namespace sluice
