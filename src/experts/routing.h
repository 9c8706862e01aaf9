// Turning router logits into the experts a token uses and their weights.
#pragma once

#include <cstdint>

namespace sluice {

// Softmax over n_expert router logits, then the k most probable experts (ordered by
// probability, descending; ties to the lower id), their weights renormalised to sum to 1
// when `normalize` (Qwen3-MoE, OLMoE) or left as probabilities (Qwen2-MoE).
// probs (n_expert floats) receives the full softmax; ids and weights k entries each.
void route_softmax_top_k(const float * logits, int n_expert, int k, bool normalize, float * probs, int32_t * ids,
                         float * weights);

// gpt-oss: the k largest router logits (ties to the lower id), their weights a softmax over
// those k alone. probs (n_expert floats) receives the softmax over all logits, for observers;
// it orders experts as the logits do.
void route_top_k_softmax(const float * logits, int n_expert, int k, float * probs, int32_t * ids, float * weights);

// DeepSeek-V2/V3 routing. Scores are sigmoid(logit) (V3) or softmax(logits) (V2). Selection
// ranks score + selection_bias (V3's exp_probs_b, nullptr: none), restricted to the
// n_group_used expert groups (n_expert / n_group consecutive experts each) whose two best
// biased scores sum highest. The weights are the unbiased scores of the chosen experts,
// renormalised to sum to 1 when `normalize`, then multiplied by `scale`.
struct group_routing {
    bool          sigmoid        = true;
    const float * selection_bias = nullptr;  // n_expert, or nullptr
    int           n_group        = 1;
    int           n_group_used   = 1;
    bool          normalize      = true;
    float         scale          = 1.0f;
};

// probs receives the n_expert unbiased scores; ids and weights k entries each, ordered by
// biased score, descending (ties to the lower id).
void route_group_limited_top_k(const float * logits, int n_expert, int k, const group_routing & opt, float * probs,
                               int32_t * ids, float * weights);

}  // namespace sluice
