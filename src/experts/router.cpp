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

// The k best of score[0..n) by repeated max: stable order, the lower id wins a tie; k is
// small. A -inf score (an excluded group) is picked only when nothing finite is left.
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

// Keeps the n_group_used groups of `sel` whose two best entries sum highest (a group of one
// counts its one); the others' entries become -inf. At most 64 groups (DeepSeek uses 8).
void restrict_to_best_groups(float * sel, int n_expert, int n_group, int n_group_used) {
    const int per             = n_expert / n_group;
    const int n_best          = std::min(2, per);
    float     group_score[64] = {};
    for (int g = 0; g < n_group; ++g) {
        int32_t best[2] = {0, 0};
        top_k(sel + g * per, per, n_best, best);
        group_score[g] = 0.0f;
        for (int j = 0; j < n_best; ++j) {
            group_score[g] += sel[g * per + best[j]];
        }
    }
    int32_t kept[64] = {};
    top_k(group_score, n_group, n_group_used, kept);
    for (int g = 0; g < n_group; ++g) {
        if (std::find(kept, kept + n_group_used, g) == kept + n_group_used) {
            std::fill(sel + g * per, sel + (g + 1) * per, -INFINITY);
        }
    }
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

void router::route(const float * lg, float * probs, float * scratch, int32_t * ids, float * weights) const {
    const int E = n_expert;
    if (scoring == router_scoring::SIGMOID) {
        for (int e = 0; e < E; ++e) {
            probs[e] = sigmoid(lg[e]);
        }
    } else {
        softmax(lg, E, probs);
    }
    // What the choice ranks: the scores, or for SOFTMAX_OF_TOP_K the logits; plus the
    // selection bias; restricted to the best groups.
    const float * ranked = scoring == router_scoring::SOFTMAX_OF_TOP_K ? lg : probs;
    std::copy(ranked, ranked + E, scratch);
    if (selection_bias != nullptr) {
        for (int e = 0; e < E; ++e) {
            scratch[e] += selection_bias[e];
        }
    }
    if (n_group > 1) {
        restrict_to_best_groups(scratch, E, n_group, n_group_used);
    }
    top_k(scratch, E, k, ids);

    if (scoring == router_scoring::SOFTMAX_OF_TOP_K) {
        // Softmax over the chosen logits; subtracting their max keeps every exponent <= 0.
        float m = lg[ids[0]];
        for (int j = 1; j < k; ++j) {
            m = std::max(m, lg[ids[j]]);
        }
        float sum = 0.0f;
        for (int j = 0; j < k; ++j) {
            weights[j] = std::exp(lg[ids[j]] - m);
            sum += weights[j];
        }
        for (int j = 0; j < k; ++j) {
            weights[j] /= sum;
        }
    } else {
        for (int j = 0; j < k; ++j) {
            weights[j] = probs[ids[j]];
        }
    }
    if (normalize) {
        float s = 0.0f;
        for (int j = 0; j < k; ++j) {
            s += weights[j];
        }
        // llama.cpp's floor: never divide by ~0 (sigmoid scores can all be tiny). Softmax
        // scores never get there: k of them sum to at least k / n_expert.
        s = std::max(s, 6.103515625e-5f);
        for (int j = 0; j < k; ++j) {
            weights[j] /= s;
        }
    }
    if (scale != 1.0f) {
        for (int j = 0; j < k; ++j) {
            weights[j] *= scale;
        }
    }
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
