// A MoE layer's router: how the residual stream entering the FFN becomes the experts each
// token uses and their weights. One description serves every architecture (softmax then
// top-k, top-k then softmax, sigmoid with selection bias and expert groups), the forward
// pass (moe_block), the predictors (cross-layer and pregate apply a later layer's router to
// this layer's stream) and the tools. Routing controls (a different k, masks, steering)
// belong here, not in the architectures.
#pragma once

#include "experts/routing_controls.h"
#include "kernels/kernels.h"

#include <cstdint>
#include <vector>

namespace sluice {

// Working memory of route(), sized to the expert count on first use; one per thread.
struct route_scratch {
    std::vector<float>   logits;  // steered logits
    std::vector<float>   ranked;  // what the choice ranks
    std::vector<uint8_t> taken;   // all zero between calls
};

// How logits become scores and weights.
enum class router_scoring {
    SOFTMAX,  // scores = softmax over all experts; weights = the chosen scores (Qwen*-MoE, OLMoE, Mixtral, DeepSeek-V2)
    SOFTMAX_OF_TOP_K,  // choose on the logits; weights = softmax over the chosen logits alone (gpt-oss)
    SIGMOID,           // scores = sigmoid(logit) per expert; weights = the chosen scores (DeepSeek-V3)
};

struct router {
    // The RMSNorm applied to the residual stream before the router (the block's FFN norm):
    // predictors apply it to another layer's stream. n_embd weights.
    const float * norm = nullptr;
    float         eps  = 1e-6f;

    weight_matrix  weight{};              // n_expert rows x n_embd cols; data == nullptr: a dense block
    const float *  logit_bias = nullptr;  // [n_expert] added to the logits (gpt-oss), or nullptr
    router_scoring scoring    = router_scoring::SOFTMAX;
    // Added to the scores for choosing only; the weights stay unbiased (DeepSeek-V3's
    // exp_probs_b). [n_expert] or nullptr.
    const float * selection_bias = nullptr;
    // Group-limited choice (DeepSeek): the n_expert experts form n_group groups of
    // consecutive ids; only the n_group_used groups whose two best (biased) scores sum
    // highest may be chosen. 1 / 1: no groups.
    int n_group      = 1;
    int n_group_used = 1;

    int   n_expert  = 0;
    int   k         = 0;      // experts per token
    bool  normalize = false;  // renormalise the k weights to sum to 1 (before `scale`)
    float scale     = 1.0f;   // multiplies the weights (DeepSeek's expert_weights_scale)

    bool routed() const { return weight.data != nullptr; }

    // logits = weight . h (+ logit_bias) for n rows of n_embd: [n][n_expert].
    void logits(const float * h, int64_t n, matmul_runner & mm, float * out) const;

    // One token: from its n_expert logits, the experts it uses (best first; ties to the lower
    // id) and their weights; returns how many. Without controls that is k; with them at most
    // controls->max_experts(n_expert, k), the room ids and weights must have. probs (n_expert)
    // receives the scores (for SOFTMAX_OF_TOP_K the softmax over all logits) after steering
    // and masking, which observers report.
    // resident (n_expert, or nullptr): which experts cost no read, for --moe-prefer-cached.
    int route(const float * logits, float * probs, route_scratch & scratch, int32_t * ids, float * weights,
              const routing_controls * controls = nullptr, int layer = 0, const uint8_t * resident = nullptr) const;

    // n rows of logits -> in place, scores that rank experts as the choice does (before the
    // group restriction): what a predictor ranks a later layer's experts by.
    void ranking_scores(float * logits, int64_t n) const;
};

}  // namespace sluice
