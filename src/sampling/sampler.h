// Choosing the next token from logits: greedy, or temperature sampling narrowed by top-k,
// top-p (nucleus) and min-p, after a repetition penalty. Seeded, so the same seed, prompt
// and settings give the same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace sluice {

struct sampler_params {
    float    temperature    = 0.8f;   // <= 0: greedy
    int32_t  top_k          = 40;     // <= 0: all
    float    top_p          = 0.95f;  // >= 1: off
    float    min_p          = 0.05f;  // <= 0: off; keeps p >= min_p * p_max
    float    repeat_penalty = 1.0f;   // 1: off; llama.cpp's rule (divide positive logits, multiply negative)
    int32_t  repeat_last_n  = 64;     // how many recent tokens the penalty looks at
    uint64_t seed           = 0;
};

class sampler {
  public:
    explicit sampler(const sampler_params & p);

    // Picks a token from n_vocab logits; `history` holds the tokens so far (prompt and
    // generated) for the repetition penalty.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

    const sampler_params & params() const { return params_; }

  private:
    sampler_params                         params_;
    std::mt19937_64                        rng_;
    std::vector<std::pair<float, int32_t>> candidates_;  // (logit or probability, id)
};

// Index of the largest value (the lowest index among equals).
int32_t argmax(std::span<const float> logits);

}  // namespace sluice
