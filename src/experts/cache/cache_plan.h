// How the byte budget is split between layers: every MoE layer gets at least the slots for
// the experts one token selects (else decode could not proceed), and the rest is shared by
// a quota policy. Fate observes that prediction is least accurate for shallow layers, so
// giving them more cache pays; popularity gives more to layers whose routing is spread over
// more experts.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace sluice {

enum class quota_policy { UNIFORM, SHALLOW, POPULARITY };

quota_policy     parse_quota_policy(std::string_view name);  // throws listing the names
std::string_view name_of(quota_policy p);

struct cache_plan {
    std::vector<int>      slots;       // per layer (0 for dense blocks)
    std::vector<uint64_t> slot_bytes;  // per layer: one expert's bytes as the cache holds them
    uint64_t              bytes = 0;   // sum of slots * slot_bytes, <= the budget
};

// slot_bytes[l] == 0 marks a dense block. `spread` (popularity only): per layer, how many
// experts carry most of its routing (from calibration); must be given for popularity.
// Throws when the budget cannot hold k_min experts of every MoE layer at once, saying how
// much is needed.
cache_plan plan_cache(uint64_t budget, const std::vector<uint64_t> & slot_bytes, int n_expert, int k_min,
                      quota_policy policy, const std::vector<double> & spread = {});

}  // namespace sluice
