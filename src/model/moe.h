// The routed-expert block shared by the MoE architectures: router logits, top-k, then each
// chosen expert's SwiGLU on the tokens routed to it, weighted and summed; optionally a shared
// expert every token goes through. The routed experts come from the forward context's expert
// source; this code never knows where their bytes live.
#pragma once

#include "experts/routing.h"
#include "model/model.h"

#include <cstdint>

namespace sluice {

// A dense SwiGLU FFN every token goes through next to the routed experts (Qwen1.5/2-MoE,
// DeepSeek-V2/V3, Qwen3-Next). With gate_inp its output is scaled per token by
// sigmoid(gate_inp . h); without (DeepSeek) it is added as is. Its weights are resident,
// never served by the expert source.
struct shared_expert {
    weight_matrix gate{};              // ff_shared rows x d cols
    weight_matrix up{};                // ff_shared rows x d cols
    weight_matrix down{};              // d rows x ff_shared cols
    const float * gate_inp = nullptr;  // d floats (ffn_gate_inp_shexp), or nullptr: weight 1
};

// How router logits become the chosen experts and their weights (experts/routing.h).
enum class moe_routing {
    SOFTMAX_TOP_K,  // route_softmax_top_k: softmax over all, then top-k (Qwen*-MoE, OLMoE, Mixtral)
    TOP_K_SOFTMAX,  // route_top_k_softmax: top-k of the (biased) logits, softmax over those k (gpt-oss)
    GROUP_LIMITED,  // route_group_limited_top_k with `group` (DeepSeek-V2/V3)
};

struct moe_options {
    int                   n_expert      = 0;
    int                   n_expert_used = 0;
    bool                  normalize     = true;     // renormalise the top-k weights to sum to 1
    const shared_expert * shared        = nullptr;  // added to the routed output when set
    moe_routing           routing       = moe_routing::SOFTMAX_TOP_K;
    // GROUP_LIMITED's score function, selection bias, groups and scale. Its own `normalize`
    // decides renormalisation there; the field above serves SOFTMAX_TOP_K.
    group_routing group{};

    const float * router_bias = nullptr;  // [n_expert] added to the router logits (gpt-oss)
    // Per-expert biases added after each projection, views indexed by expert id:
    // gate/up [n_expert][ff], down [n_expert][d]. nullptr: none.
    const float * gate_exps_bias = nullptr;
    const float * up_exps_bias   = nullptr;
    const float * down_exps_bias = nullptr;
    // > 0: the experts use swiglu_clamped(alpha, limit) (gpt-oss) instead of swiglu.
    float swiglu_limit = 0.0f;
    float swiglu_alpha = 1.0f;
};

// out[t] = sum over the chosen experts e of w_e * down_e(silu(gate_e h[t]) * up_e h[t])
//          (+ the shared expert's output when opt.shared; with the biases and activation
//          opt names),
// for h: [n][d] holding the tokens at positions pos0..pos0+n-1; out: [n][d] (overwritten).
// Tokens are grouped by expert so each expert's matrices are read once per batch (matrix x
// matrix in prefill and batched decode, matrix x vector for one token). `positions`, when
// given, holds each row's own position (rows of different sequences in a batched decode);
// it only changes what the observer is told.
void moe_block(const float * h, int64_t n, int64_t pos0, int layer, const weight_matrix & router,
               const moe_options & opt, const forward_context & ctx, float * out, const int64_t * positions = nullptr);

// out[t] += s_t * down(silu(gate h[t]) * up h[t]) with s_t = sigmoid(se.gate_inp . h[t]), or 1
// without gate_inp; h, out: [n][d]. moe_block calls it when opt.shared is set; a dense FFN
// block (DeepSeek's leading layers) can call it with a gate-less shared_expert.
void add_shared_expert(const float * h, int64_t n, const shared_expert & se, matmul_runner & mm, float * out);

}  // namespace sluice
