#include "experts/routing.h"

#include <algorithm>
#include <cmath>

namespace sluice {

void route_softmax_top_k(const float * logits, int n_expert, int k, bool normalize, float * probs, int32_t * ids,
                         float * weights) {
    float max_logit = logits[0];
    for (int e = 1; e < n_expert; ++e) {
        max_logit = std::max(max_logit, logits[e]);
    }
    float sum = 0.0f;
    for (int e = 0; e < n_expert; ++e) {
        probs[e] = std::exp(logits[e] - max_logit);
        sum += probs[e];
    }
    for (int e = 0; e < n_expert; ++e) {
        probs[e] /= sum;
    }
    // Selection by repeated max keeps the order stable (lower id wins a tie); k is small.
    for (int j = 0; j < k; ++j) {
        int best = -1;
        for (int e = 0; e < n_expert; ++e) {
            if (std::find(ids, ids + j, e) != ids + j) {
                continue;
            }
            if (best < 0 || probs[e] > probs[best]) {
                best = e;
            }
        }
        ids[j]     = best;
        weights[j] = probs[best];
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
    for (int j = 0; j < k; ++j) {
        int best = -1;
        for (int e = 0; e < n_expert; ++e) {
            if (std::find(ids, ids + j, e) != ids + j) {
                continue;
            }
            if (best < 0 || logits[e] > logits[best]) {
                best = e;
            }
        }
        ids[j] = best;
    }
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

}  // namespace sluice
