#include "experts/router.h"

#include <algorithm>
#include <cmath>

namespace sluice {
namespace {

void softmax(const float * logits, int n, float * probs) {
    float max_logit = logits[0];
    for (int e = 1; e < n; ++e) {
        max_logit = std::max(max_logit, logits[e]);
    }
    float sum = 0.0f;
    for (int e = 0; e < n; ++e) {
        probs[e] = std::exp(logits[e] - max_logit);
        sum += probs[e];
    }
    for (int e = 0; e < n; ++e) {
        probs[e] /= sum;
    }
}

float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}

// The next best of score[0..n) not yet taken, marking it taken: the lower id wins a tie, and a
// -inf score (a masked expert or an excluded group) is picked only when nothing finite is
// left. -1 when everything is taken.
int take_best(const float * score, int n, uint8_t * taken) {
    int best = -1;
    for (int e = 0; e < n; ++e) {
        if (taken[e] == 0 && (best < 0 || score[e] > score[best])) {
            best = e;
        }
    }
    if (best >= 0) {
        taken[best] = 1;
    }
    return best;
}

// The k best of score[0..n) by repeated max (k is small); `taken` (n zeros) is left zero.
void top_k(const float * score, int n, int k, int32_t * ids, uint8_t * taken) {
    for (int j = 0; j < k; ++j) {
        ids[j] = take_best(score, n, taken);
    }
    for (int j = 0; j < k; ++j) {
        taken[ids[j]] = 0;
    }
}

// Keeps the n_group_used groups of `sel` whose two best entries sum highest (a group of one
// counts its one); the others' entries become -inf. At most 64 groups (DeepSeek uses 8).
void restrict_to_best_groups(float * sel, int n_expert, int n_group, int n_group_used, uint8_t * taken) {
    const int per             = n_expert / n_group;
    const int n_best          = std::min(2, per);
    float     group_score[64] = {};
    for (int g = 0; g < n_group; ++g) {
        int32_t best[2] = {0, 0};
        top_k(sel + g * per, per, n_best, best, taken);
        group_score[g] = 0.0f;
        for (int j = 0; j < n_best; ++j) {
            group_score[g] += sel[g * per + best[j]];
        }
    }
    int32_t kept[64] = {};
    top_k(group_score, n_group, n_group_used, kept, taken);
    for (int g = 0; g < n_group; ++g) {
        if (std::find(kept, kept + n_group_used, g) == kept + n_group_used) {
            std::fill(sel + g * per, sel + (g + 1) * per, -INFINITY);
        }
    }
}

// How many experts a token uses under top-p: taking experts in the order of `ranked`, the
// fewest whose scores, renormalised over the experts that may be chosen, reach p; within
// [min_k, max_k] and never more than the experts left. ranked, probs: n_expert.
int top_p_count(const float * ranked, const float * probs, int n_expert, const routing_controls & c, uint8_t * taken) {
    float total   = 0.0f;
    int   n_avail = 0;
    for (int e = 0; e < n_expert; ++e) {
        if (ranked[e] > -INFINITY) {
            total += probs[e];
            ++n_avail;
        }
    }
    const int max_k = std::min(c.max_k > 0 ? c.max_k : n_expert, n_avail);
    int       n     = 0;
    float     mass  = 0.0f;
    // p = 1 means every expert (up to max_k): float sums need not reach 1 exactly.
    while (n < max_k && (n < c.min_k || c.top_p >= 1.0f || mass < c.top_p * total)) {
        mass += probs[take_best(ranked, n_expert, taken)];
        ++n;
    }
    std::fill(taken, taken + n_expert, uint8_t{0});
    return std::max(n, 1);
}

// --moe-prefer-cached: each chosen expert that would have to be read (worst first) gives its
// place to the best resident expert not chosen, not masked and not excluded by the groups,
// whose score (probs) is lower by at most `margin`; then ids are put back in ranking order.
void prefer_resident(const float * ranked, const float * probs, int n_expert, float margin, const uint8_t * resident,
                     const layer_routing_controls * lc, int32_t * ids, int n, uint8_t * taken) {
    for (int j = 0; j < n; ++j) {
        taken[ids[j]] = 1;
    }
    for (int j = n - 1; j >= 0; --j) {
        const int32_t e = ids[j];
        if (resident[e] != 0 || (lc != nullptr && lc->is_forced(e))) {
            continue;
        }
        int best = -1;
        for (int c = 0; c < n_expert; ++c) {
            if (taken[c] == 0 && resident[c] != 0 && ranked[c] > -INFINITY && probs[e] - probs[c] <= margin &&
                (best < 0 || ranked[c] > ranked[best])) {
                best = c;
            }
        }
        if (best >= 0) {
            taken[e]    = 0;
            taken[best] = 1;
            ids[j]      = best;
        }
    }
    for (int j = 0; j < n; ++j) {
        taken[ids[j]] = 0;
    }
    std::stable_sort(ids, ids + n,
                     [&](int32_t a, int32_t b) { return ranked[a] > ranked[b] || (ranked[a] == ranked[b] && a < b); });
}

}  // namespace

void router::logits(const float * h, int64_t n, matmul_runner & mm, float * out) const {
    mm.matmul(weight, h, n, out);
    if (logit_bias != nullptr) {
        for (int64_t t = 0; t < n; ++t) {
            for (int e = 0; e < n_expert; ++e) {
                out[t * n_expert + e] += logit_bias[e];
            }
        }
    }
}

int router::route(const float * lg, float * probs, route_scratch & scratch, int32_t * ids, float * weights,
                  const routing_controls * controls, int layer, const uint8_t * resident) const {
    const int E = n_expert;
    if (scratch.ranked.size() < static_cast<size_t>(E)) {
        scratch.logits.resize(E);
        scratch.ranked.resize(E);
        scratch.taken.assign(E, 0);
    }
    const layer_routing_controls * lc = controls != nullptr ? controls->layer(layer) : nullptr;
    // Steering and masking change the logits themselves: a masked expert leaves softmax's
    // denominator, as if it were not in the file.
    if (lc != nullptr && (!lc->logit_offset.empty() || !lc->masked.empty())) {
        std::copy(lg, lg + E, scratch.logits.begin());
        for (int e = 0; e < E; ++e) {
            if (!lc->logit_offset.empty()) {
                scratch.logits[e] += lc->logit_offset[e];
            }
            if (lc->is_masked(e)) {
                scratch.logits[e] = -INFINITY;
            }
        }
        lg = scratch.logits.data();
    }
    if (scoring == router_scoring::SIGMOID) {
        for (int e = 0; e < E; ++e) {
            probs[e] = sigmoid(lg[e]);
        }
    } else {
        softmax(lg, E, probs);
    }
    // What the choice ranks: the scores, or for SOFTMAX_OF_TOP_K the logits; plus the
    // selection bias; restricted to the best groups; masked experts never, forced ones first.
    float *       ranked = scratch.ranked.data();
    uint8_t *     taken  = scratch.taken.data();
    const float * src    = scoring == router_scoring::SOFTMAX_OF_TOP_K ? lg : probs;
    std::copy(src, src + E, ranked);
    if (selection_bias != nullptr) {
        for (int e = 0; e < E; ++e) {
            ranked[e] += selection_bias[e];
        }
    }
    int n = k;
    if (lc != nullptr && !lc->masked.empty()) {
        for (int e = 0; e < E; ++e) {
            ranked[e] = lc->is_masked(e) ? -INFINITY : ranked[e];
        }
    }
    if (n_group > 1) {
        restrict_to_best_groups(ranked, E, n_group, n_group_used, taken);
    }
    if (lc != nullptr && !lc->force_weight.empty()) {
        for (int e = 0; e < E; ++e) {
            ranked[e] = lc->is_forced(e) ? INFINITY : ranked[e];
        }
    }
    if (controls != nullptr) {
        if (controls->top_k > 0) {
            n = controls->top_k;
        }
        if (controls->top_p > 0.0f) {
            n = top_p_count(ranked, probs, E, *controls, taken);
            if (lc != nullptr && !lc->force_weight.empty()) {
                const auto forced = std::count_if(lc->force_weight.begin(), lc->force_weight.end(),
                                                  [](float w) { return !std::isnan(w); });
                n                 = std::max(n, static_cast<int>(forced));
            }
        }
        if (lc != nullptr && !lc->masked.empty()) {
            // Masks may leave fewer experts than k: the token uses those.
            const auto left = static_cast<int>(std::count(lc->masked.begin(), lc->masked.end(), uint8_t{0}));
            n               = std::min(n, left);
        }
    }
    top_k(ranked, E, n, ids, taken);
    if (resident != nullptr && controls != nullptr && controls->prefer_cached > 0.0f) {
        prefer_resident(ranked, probs, E, controls->prefer_cached, resident, lc, ids, n, taken);
    }

    if (scoring == router_scoring::SOFTMAX_OF_TOP_K) {
        // Softmax over the chosen logits; subtracting their max keeps every exponent <= 0.
        float m = lg[ids[0]];
        for (int j = 1; j < n; ++j) {
            m = std::max(m, lg[ids[j]]);
        }
        float sum = 0.0f;
        for (int j = 0; j < n; ++j) {
            weights[j] = std::exp(lg[ids[j]] - m);
            sum += weights[j];
        }
        for (int j = 0; j < n; ++j) {
            weights[j] /= sum;
        }
    } else {
        for (int j = 0; j < n; ++j) {
            weights[j] = probs[ids[j]];
        }
    }
    if (normalize) {
        float s = 0.0f;
        for (int j = 0; j < n; ++j) {
            s += weights[j];
        }
        // llama.cpp's floor: never divide by ~0 (sigmoid scores can all be tiny). Softmax
        // scores never get there: k of them sum to at least k / n_expert.
        s = std::max(s, 6.103515625e-5f);
        for (int j = 0; j < n; ++j) {
            weights[j] /= s;
        }
    }
    if (scale != 1.0f) {
        for (int j = 0; j < n; ++j) {
            weights[j] *= scale;
        }
    }
    if (lc != nullptr && !lc->force_weight.empty()) {
        for (int j = 0; j < n; ++j) {
            if (lc->is_forced(ids[j]) && lc->force_weight[ids[j]] >= 0.0f) {
                weights[j] = lc->force_weight[ids[j]];
            }
        }
    }
    if (controls != nullptr && controls->skip_threshold > 0.0f) {
        // MoDES: an expert whose weight, scaled by its layer's importance, is below the
        // threshold contributes too little to be worth its bytes. The best and forced stay.
        const float imp  = controls->importance(layer);
        int         kept = 1;
        for (int j = 1; j < n; ++j) {
            if (weights[j] * imp >= controls->skip_threshold || (lc != nullptr && lc->is_forced(ids[j]))) {
                ids[kept]     = ids[j];
                weights[kept] = weights[j];
                ++kept;
            }
        }
        n = kept;
    }
    return n;
}

void router::ranking_scores(float * lg, int64_t n) const {
    for (int64_t t = 0; t < n; ++t) {
        float * s = lg + t * n_expert;
        // Softmax is monotonic: without a selection bias the logits rank as the scores do.
        if (scoring == router_scoring::SIGMOID) {
            for (int e = 0; e < n_expert; ++e) {
                s[e] = sigmoid(s[e]);
            }
        } else if (scoring == router_scoring::SOFTMAX && selection_bias != nullptr) {
            softmax(s, n_expert, s);
        }
        if (selection_bias != nullptr) {
            for (int e = 0; e < n_expert; ++e) {
                s[e] += selection_bias[e];
            }
        }
    }
}

}  // namespace sluice
