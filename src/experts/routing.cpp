#include "experts/routing.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

// The k best of score[0..n) by repeated max: stable order, the lower id wins a tie; k is
// small. A -inf score (a masked expert) is picked only when nothing finite is left.
void top_k(const float * score, int n, int k, int32_t * ids) {
    for (int j = 0; j < k; ++j) {
        int best = -1;
        for (int e = 0; e < n; ++e) {
            if (std::find(ids, ids + j, e) != ids + j) {
                continue;
            }
            if (best < 0 || score[e] > score[best]) {
                best = e;
            }
        }
        ids[j] = best;
    }
}

}  // namespace

void route_softmax_top_k(const float * logits, int n_expert, int k, bool normalize, float * probs, int32_t * ids,
                         float * weights) {
    softmax(logits, n_expert, probs);
    top_k(probs, n_expert, k, ids);
    for (int j = 0; j < k; ++j) {
        weights[j] = probs[ids[j]];
    }
    if (normalize) {
        float s = 0.0f;
        for (int j = 0; j < k; ++j) {
            s += weights[j];
        }
        for (int j = 0; j < k; ++j) {
            weights[j] /= s;
        }
    }
}

void route_top_k_softmax(const float * logits, int n_expert, int k, float * probs, int32_t * ids, float * weights) {
    top_k(logits, n_expert, k, ids);
    // ids[0] holds the largest logit: subtracting it keeps every exponent <= 0.
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) {
        weights[j] = std::exp(logits[ids[j]] - logits[ids[0]]);
        sum += weights[j];
    }
    for (int j = 0; j < k; ++j) {
        weights[j] /= sum;
    }
    float all = 0.0f;
    for (int e = 0; e < n_expert; ++e) {
        probs[e] = std::exp(logits[e] - logits[ids[0]]);
        all += probs[e];
    }
    for (int e = 0; e < n_expert; ++e) {
        probs[e] /= all;
    }
}

void route_group_limited_top_k(const float * logits, int n_expert, int k, const group_routing & opt, float * probs,
                               int32_t * ids, float * weights) {
    if (opt.sigmoid) {
        for (int e = 0; e < n_expert; ++e) {
            probs[e] = 1.0f / (1.0f + std::exp(-logits[e]));
        }
    } else {
        softmax(logits, n_expert, probs);
    }
    std::vector<float> sel(probs, probs + n_expert);
    if (opt.selection_bias != nullptr) {
        for (int e = 0; e < n_expert; ++e) {
            sel[e] += opt.selection_bias[e];
        }
    }
    if (opt.n_group > 1) {
        // A group's score is the sum of its two best selection scores (its one, if alone).
        const int          per    = n_expert / opt.n_group;
        const int          n_best = std::min(2, per);
        std::vector<float> group_score(opt.n_group);
        for (int g = 0; g < opt.n_group; ++g) {
            int32_t best[2] = {0, 0};
            top_k(sel.data() + g * per, per, n_best, best);
            group_score[g] = 0.0f;
            for (int j = 0; j < n_best; ++j) {
                group_score[g] += sel[g * per + best[j]];
            }
        }
        std::vector<int32_t> kept(opt.n_group_used);
        top_k(group_score.data(), opt.n_group, opt.n_group_used, kept.data());
        for (int g = 0; g < opt.n_group; ++g) {
            if (std::find(kept.begin(), kept.end(), g) == kept.end()) {
                std::fill(sel.begin() + g * per, sel.begin() + (g + 1) * per, -INFINITY);
            }
        }
    }
    top_k(sel.data(), n_expert, k, ids);
    for (int j = 0; j < k; ++j) {
        weights[j] = probs[ids[j]];
    }
    if (opt.normalize) {
        float s = 0.0f;
        for (int j = 0; j < k; ++j) {
            s += weights[j];
        }
        s = std::max(s, 6.103515625e-5f);  // llama.cpp's floor: never divide by ~0
        for (int j = 0; j < k; ++j) {
            weights[j] /= s;
        }
    }
    for (int j = 0; j < k; ++j) {
        weights[j] *= opt.scale;
    }
}

}  // namespace sluice
