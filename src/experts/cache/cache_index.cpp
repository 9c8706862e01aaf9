#include "experts/cache/cache_index.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace sluice {

eviction_policy parse_eviction_policy(std::string_view name) {
    if (name == "lru") {
        return eviction_policy::LRU;
    }
    if (name == "lfu") {
        return eviction_policy::LFU;
    }
    if (name == "predictive") {
        return eviction_policy::PREDICTIVE;
    }
    if (name == "opt") {
        return eviction_policy::OPT;
    }
    if (name == "decay") {
        return eviction_policy::DECAY;
    }
    if (name == "markov") {
        return eviction_policy::MARKOV;
    }
    if (name == "next-token") {
        return eviction_policy::NEXT_TOKEN;
    }
    fail("unknown cache policy '{}' (expected lru, lfu, predictive, decay, markov, next-token or opt)", name);
}

std::string_view name_of(eviction_policy p) {
    switch (p) {
        case eviction_policy::LRU:
            return "lru";
        case eviction_policy::LFU:
            return "lfu";
        case eviction_policy::PREDICTIVE:
            return "predictive";
        case eviction_policy::OPT:
            return "opt";
        case eviction_policy::DECAY:
            return "decay";
        case eviction_policy::MARKOV:
            return "markov";
        case eviction_policy::NEXT_TOKEN:
            return "next-token";
    }
    return "?";
}

bool needs_future(eviction_policy p) {
    return p == eviction_policy::OPT || p == eviction_policy::NEXT_TOKEN;
}

cache_index::cache_index(std::vector<int> slots_per_layer, int n_expert, eviction_policy policy)
    : n_expert_(n_expert), policy_(policy) {
    for (int n : slots_per_layer) {
        slots_.emplace_back(static_cast<size_t>(n));
        where_.emplace_back(static_cast<size_t>(n_expert), -1);
        uses_.emplace_back(static_cast<size_t>(n_expert), 0);
        predicted_.emplace_back(static_cast<size_t>(n_expert), 0);
        next_use_.emplace_back(static_cast<size_t>(n_expert), UINT64_MAX);
        heat_.emplace_back(static_cast<size_t>(n_expert), 0.0);
        heat_at_.emplace_back(static_cast<size_t>(n_expert), 0);
        const bool markov = policy == eviction_policy::MARKOV && n > 0;
        followed_by_.emplace_back(markov ? static_cast<size_t>(n_expert) * static_cast<size_t>(n_expert) : 0, 0.0f);
        followed_.emplace_back(markov ? static_cast<size_t>(n_expert) : 0, 0.0f);
    }
    passes_.assign(slots_.size(), 0);
    pass_.resize(slots_.size());
    pass_one_token_.assign(slots_.size(), 0);
}

void cache_index::begin_pass(int layer, std::span<const int32_t> ids, bool one_token) {
    ++passes_[layer];
    if (followed_[layer].empty()) {
        return;
    }
    if (one_token && pass_one_token_[layer]) {
        const size_t n = static_cast<size_t>(n_expert_);
        for (int32_t a : pass_[layer]) {
            followed_[layer][a] += 1.0f;
            for (int32_t b : ids) {
                followed_by_[layer][static_cast<size_t>(a) * n + static_cast<size_t>(b)] += 1.0f;
            }
        }
    }
    pass_[layer].assign(ids.begin(), ids.end());
    pass_one_token_[layer] = one_token ? 1 : 0;
}

double cache_index::markov_chance(int layer, int32_t expert) const {
    // The expert's share of the passes before this one: the estimate after an expert that
    // has rarely been followed yet (one pseudo-observation).
    const uint64_t before = passes_[layer] > 0 ? passes_[layer] - 1 : 0;
    const double   share =
        before > 0 ? std::min(1.0, static_cast<double>(uses_[layer][expert]) / static_cast<double>(before)) : 0.0;
    const size_t n    = static_cast<size_t>(n_expert_);
    double       none = 1.0;  // the chance that no expert of this pass leads to it
    for (int32_t a : pass_[layer]) {
        const double after = followed_by_[layer][static_cast<size_t>(a) * n + static_cast<size_t>(expert)];
        none *= 1.0 - (after + share) / (followed_[layer][a] + 1.0);
    }
    return 1.0 - none;
}

double cache_index::heat(int layer, int32_t expert) const {
    const double age = static_cast<double>(passes_[layer] - heat_at_[layer][expert]);
    return heat_[layer][expert] * std::exp2(-age / k_decay_half_life);
}

eviction cache_index::claim(int layer, int32_t expert, bool prefetch) {
    using rank_type                 = std::tuple<int, double, uint64_t>;
    std::vector<cache_slot> & slots = slots_[layer];
    int                       best  = -1;
    rank_type                 best_rank;
    // Lower rank: evicted first. Empty slots come before anything. Each candidate's rank is
    // computed once (MARKOV's costs a pass over the current experts).
    auto rank = [&](const cache_slot & s) -> rank_type {
        if (s.status == slot_status::EMPTY) {
            return {0, 0.0, 0};
        }
        const int guarded = (policy_ == eviction_policy::PREDICTIVE && predicted(layer, s.expert)) ||
                                    (policy_ == eviction_policy::NEXT_TOKEN && next_use_[layer][s.expert] == now_ + 1)
                                ? 1
                                : 0;
        double    worth   = 0.0;  // lower goes first; then the least recently used
        switch (policy_) {
            case eviction_policy::LFU:
                worth = static_cast<double>(uses_[layer][s.expert]);
                break;
            case eviction_policy::OPT:  // the farthest next use first
                worth = -static_cast<double>(next_use_[layer][s.expert]);
                break;
            case eviction_policy::DECAY:
            case eviction_policy::NEXT_TOKEN:
                worth = heat(layer, s.expert);
                break;
            case eviction_policy::MARKOV:
                worth = heat(layer, s.expert) + k_decay_half_life * markov_chance(layer, s.expert);
                break;
            default:
                break;
        }
        return {1 + guarded, worth, s.last_use};
    };
    for (int i = 0; i < static_cast<int>(slots.size()); ++i) {
        const cache_slot & s = slots[i];
        if (s.held || s.pinned) {
            continue;
        }
        if (prefetch && s.status != slot_status::EMPTY && predicted(layer, s.expert)) {
            continue;  // a prediction never pushes out another prediction
        }
        const rank_type r = rank(s);
        if (best < 0 || r < best_rank) {
            best      = i;
            best_rank = r;
        }
    }
    eviction out;
    if (best < 0) {
        return out;
    }
    cache_slot & s = slots[best];
    out.slot       = best;
    if (s.status != slot_status::EMPTY) {
        out.evicted             = s.expert;
        out.wasted              = !s.used;
        out.loading             = s.status == slot_status::LOADING;
        out.shadow              = s.shadow;
        where_[layer][s.expert] = -1;
    }
    s                     = cache_slot{};
    s.expert              = expert;
    s.status              = slot_status::LOADING;
    s.prefetch            = prefetch;
    s.last_use            = ++clock_;
    where_[layer][expert] = best;
    return out;
}

void cache_index::touch(int layer, int s) {
    cache_slot & c = slots_[layer][s];
    c.last_use     = ++clock_;
    c.used         = true;
    ++uses_[layer][c.expert];
    heat_[layer][c.expert]    = heat(layer, c.expert) + 1.0;
    heat_at_[layer][c.expert] = passes_[layer];
}

void cache_index::set_predicted(int layer, const std::vector<int32_t> & experts) {
    std::fill(predicted_[layer].begin(), predicted_[layer].end(), 0);
    for (int32_t e : experts) {
        predicted_[layer][e] = 1;
    }
}

void cache_index::forget(int layer, int s) {
    cache_slot & c = slots_[layer][s];
    if (c.expert >= 0 && where_[layer][c.expert] == s) {
        where_[layer][c.expert] = -1;
    }
    c = cache_slot{};
}

void cache_index::release_all() {
    for (auto & layer : slots_) {
        for (cache_slot & s : layer) {
            s.held = false;
        }
    }
}

}  // namespace sluice
