// Log-probabilities for the logprobs / top_logprobs options: log-softmax of the model's raw
// logits (before temperature and the other sampling filters, as OpenAI reports them).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace sluice::server {

struct token_logprob {
    int32_t                                id      = 0;
    float                                  logprob = 0.0f;
    std::vector<std::pair<int32_t, float>> top;  // (id, logprob), most likely first
};

// The chosen token's log-probability and the n_top most likely tokens'.
token_logprob compute_logprob(std::span<const float> logits, int32_t chosen, int n_top);

}  // namespace sluice::server
