// `sluice profile`: which experts the router prefers on text A over text B. Both texts run
// through the model in chunks (a fresh sequence each, as perplexity does); a forward_observer
// counts, per MoE layer and expert, the tokens that chose it, the router weights it got and
// the router probabilities. compare_routing turns two such counts into a per-expert table
// and a ranking by how specific each expert is to A:
//
//   log_ratio = log((count_a + alpha) / (N_a + alpha E)) - log((count_b + alpha) / (N_b + alpha E))
//   z         = (share_a - share_b) / sqrt(p (1 - p) (1/N_a + 1/N_b)),  p = (count_a + count_b) / (N_a + N_b)
//   p_value   = erfc(|z| / sqrt 2)  (two-sided two-proportion z-test)
//
// N is the number of tokens (each token either chose an expert or not; tokens are treated as
// independent, which a text's tokens are not, so read the p-value as a guide).
#pragma once

#include "engine/engine.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace sluice {

// One text's routing: [block][expert] (dense blocks have empty rows).
struct routing_counts {
    int64_t                            tokens = 0;
    std::vector<std::vector<uint64_t>> chosen;      // tokens that chose the expert
    std::vector<std::vector<double>>   weight_sum;  // sum of its router weight when chosen
    std::vector<std::vector<double>>   prob_sum;    // sum of its router probability, every token
};

struct count_options {
    int64_t n_ctx = 256;  // tokens per sequence; each chunk starts from an empty cache
    // Replaces the first token of every chunk with this id when >= 0 (BOS, as perplexity does).
    int32_t first_token = -1;
    // Called after each chunk with the tokens done so far (progress).
    std::function<void(int64_t done)> on_chunk;
};

routing_counts count_routing(engine & e, std::span<const int32_t> tokens, const count_options & opt);

struct expert_stats {
    int      layer = 0, expert = 0;
    uint64_t count_a = 0, count_b = 0;
    double   share_a = 0, share_b = 0;              // count / tokens
    double   mean_weight_a = 0, mean_weight_b = 0;  // mean router weight when chosen (0 if never)
    double   mean_prob_a = 0, mean_prob_b = 0;      // mean router probability over all tokens
    double   log_ratio = 0, z = 0, p_value = 1;
};

struct routing_profile {
    double                    alpha = 0.5;
    int64_t                   n_a = 0, n_b = 0;  // tokens
    int                       n_layer = 0, n_expert = 0;
    std::vector<expert_stats> experts;  // MoE layers in file order, experts in id order
    std::vector<size_t>       ranking;  // indices into experts, most A-specific first
};

inline constexpr const char * profile_test_name = "two-proportion z-test";

// Throws when either side has no tokens or the two come from different models.
routing_profile compare_routing(const routing_counts & a, const routing_counts & b, double alpha);

struct profile_labels {
    std::string model, file_a, file_b;
    int         top = 8;  // entries of the ranking in "mask" and "steer"
};

// The sluice.profile.v1 document (see README, "Profiling and plotting experts"), keys in the
// order the README shows them.
nlohmann::ordered_json profile_json(const routing_profile & p, const profile_labels & labels);

// "l:e,l:e,..." for the first `top` entries of the ranking (an --expert-mask SPEC).
std::string profile_mask(const routing_profile & p, int top);

// A plain-text table of the first `top` entries of the ranking.
std::string profile_table(const routing_profile & p, int top);

}  // namespace sluice
