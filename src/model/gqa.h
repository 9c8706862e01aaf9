// Grouped-query attention as the attention-and-MoE architectures use it: q/k/v projections
// (optional biases), optional RMSNorm of q and k (per head or over the whole projection),
// RoPE (NeoX or normal pairing, on the first rope_dim dims of each head), causal attention
// over the KV cache (optionally a sliding window and per-head sink logits), an optional
// sigmoid output gate per head (Qwen3-Next: attn_q yields per head a query, then its gate),
// and the output projection (optional bias).
#pragma once

#include "kernels/kernels.h"
#include "model/layers.h"
#include "model/model.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

struct gqa_weights {
    weight_matrix      wq{}, wk{}, wv{};  // q rows (q_dim, or 2 q_dim with output_gate) x d; kv_dim x d twice
    weight_matrix      wo{};              // d x q_dim
    std::vector<float> bq, bk, bv, bo;    // projection biases (Qwen2-MoE q/k/v, gpt-oss all four); empty: none
    std::vector<float> q_norm, k_norm;    // [head_dim] per head, or [q_dim] / [kv_dim] (qk_norm_full); empty: none
    std::vector<float> sinks;             // [n_head] attention-sink logits (gpt-oss); empty: none
    int64_t            window      = 0;   // sliding-window attention: keys per query; 0: all previous
    bool               output_gate = false;
};

// What is the same for every block of a model.
struct gqa_shape {
    int64_t    n_head = 0, n_head_kv = 0, head_dim = 0;
    int64_t    rope_dim     = 0;
    double     rope_base    = 10000.0;
    float      eps          = 1e-6f;
    rope_style rope         = rope_style::NEOX;
    bool       qk_norm_full = false;  // q/k norms span the whole projection (OLMoE), not one head

    int64_t q_dim() const { return n_head * head_dim; }
    int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// out = W_o attention(rope(norm(W_q h + b_q)), rope(norm(W_k h + b_k)), W_v h + b_v) + b_o
// for h: [n][d] (the normed residual), out: [n][d]. The projections run once over all rows;
// RoPE, storing keys and values at `kv_layer` of each segment's cache, and attention run
// per segment at its own positions.
// ws (may be null): where the projections live, reused from pass to pass.
void gqa_attention(const gqa_weights & w, const gqa_shape & s, int64_t kv_layer, std::span<const segment> segs,
                   const float * h, int64_t n, matmul_runner & mm, float * out, forward_workspace * ws = nullptr);

}  // namespace sluice
