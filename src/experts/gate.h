// A MoE layer's gate as a predictor sees it: what the layer does to the residual stream to
// pick its experts. Cross-layer prediction (Fate) applies layer L+1's gate to layer L's
// residual stream; the model describes each layer's gate so the predictor needs to know
// nothing about the architecture.
#pragma once

#include "kernels/kernels.h"

namespace sluice {

struct moe_gate {
    const float * norm = nullptr;  // RMSNorm weights (n_embd) applied before the router
    float         eps  = 1e-6f;
    weight_matrix router{};                  // n_expert rows x n_embd cols; data == nullptr: a dense block
    const float * router_bias    = nullptr;  // added to the router logits (gpt-oss)
    const float * selection_bias = nullptr;  // added to the scores for selection only (deepseek2)
    bool          sigmoid_scores = false;    // experts ranked by sigmoid(logit) (+ selection_bias)

    bool routed() const { return router.data != nullptr; }
};

}  // namespace sluice
