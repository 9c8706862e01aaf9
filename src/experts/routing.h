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

}  // namespace sluice
