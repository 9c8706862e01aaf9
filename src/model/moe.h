// The routed-expert block shared by the MoE architectures: router logits, top-k, then each
// chosen expert's SwiGLU on the tokens routed to it, weighted and summed; optionally a shared
// expert every token goes through. The routed experts come from the forward context's expert
// source; this code never knows where their bytes live.
#pragma once

#include "experts/router.h"
#include "model/model.h"

#include <cstdint>
#include <span>

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

// How the chosen experts compute (the routing itself is the block's `router`).
struct moe_options {
    const shared_expert * shared = nullptr;  // added to the routed output when set

    // Per-expert biases added after each projection, views indexed by expert id:
    // gate/up [n_expert][ff], down [n_expert][d]. nullptr: none.
    const float * gate_exps_bias = nullptr;
    const float * up_exps_bias   = nullptr;
    const float * down_exps_bias = nullptr;
    // > 0: the experts use swiglu_clamped(alpha, limit) (gpt-oss) instead of swiglu.
    float swiglu_limit = 0.0f;
    float swiglu_alpha = 1.0f;
};

// out[t] = sum over the experts e the router chose of w_e * down_e(silu(gate_e h[t]) * up_e h[t])
//          (+ the shared expert's output when opt.shared; with the biases and activation
//          opt names),
// for h: [n][d], the normed residual of rows at `positions` (n; rows of different sequences
// in a batched decode); out: [n][d] (overwritten). Tokens are grouped by expert so each
// expert's matrices are read once per batch (matrix x matrix in prefill and batched decode,
// matrix x vector for one token).
void moe_block(const float * h, int64_t n, int layer, const router & r, const moe_options & opt,
               const forward_context & ctx, float * out, std::span<const int64_t> positions);

// out[t] += s_t * down(silu(gate h[t]) * up h[t]) with s_t = sigmoid(se.gate_inp . h[t]), or 1
// without gate_inp; h, out: [n][d]. moe_block calls it when opt.shared is set; a dense FFN
// block (DeepSeek's leading layers) can call it with a gate-less shared_expert.
void add_shared_expert(const float * h, int64_t n, const shared_expert & se, matmul_runner & mm, float * out);

}  // namespace sluice
