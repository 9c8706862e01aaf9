#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace sluice {

int32_t argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

sampler::sampler(const sampler_params & p) : params_(p), rng_(p.seed) {}

int32_t sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const auto n = static_cast<int32_t>(logits.size());
    candidates_.resize(n);
    for (int32_t i = 0; i < n; ++i) {
        candidates_[i] = {logits[i], i};
    }
    if (params_.repeat_penalty != 1.0f && params_.repeat_last_n != 0) {
        const size_t first = params_.repeat_last_n < 0 || history.size() < static_cast<size_t>(params_.repeat_last_n)
                                 ? 0
                                 : history.size() - params_.repeat_last_n;
        std::unordered_set<int32_t> seen(history.begin() + static_cast<ptrdiff_t>(first), history.end());
        for (int32_t id : seen) {
            if (id >= 0 && id < n) {
                float & l = candidates_[id].first;
                l         = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
            }
        }
    }
    const auto by_value_desc = [](const auto & a, const auto & b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    if (params_.temperature <= 0.0f) {
        return std::min_element(candidates_.begin(), candidates_.end(), by_value_desc)->second;
    }

    // top-k: keep the k largest, sorted.
    size_t keep = candidates_.size();
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
        keep = params_.top_k;
    }
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<ptrdiff_t>(keep), candidates_.end(),
                      by_value_desc);
    candidates_.resize(keep);

    // Softmax at the temperature.
    const float max_l = candidates_[0].first;
    double      sum   = 0.0;
    for (auto & c : candidates_) {
        c.first = std::exp((c.first - max_l) / params_.temperature);
        sum += c.first;
    }
    for (auto & c : candidates_) {
        c.first = static_cast<float>(c.first / sum);
    }
    // min-p: relative to the most probable token.
    if (params_.min_p > 0.0f) {
        const float floor_p = params_.min_p * candidates_[0].first;
        size_t      m       = 1;
        while (m < candidates_.size() && candidates_[m].first >= floor_p) {
            ++m;
        }
        candidates_.resize(m);
    }
    // top-p: the smallest prefix whose mass reaches p.
    if (params_.top_p < 1.0f) {
        double mass = 0.0;
        size_t m    = 0;
        while (m < candidates_.size()) {
            mass += candidates_[m].first;
            ++m;
            if (mass >= params_.top_p) {
                break;
            }
        }
        candidates_.resize(m);
    }
    double total = 0.0;
    for (const auto & c : candidates_) {
        total += c.first;
    }
    // Inverse-CDF draw from our own uniform so the result does not depend on the standard
    // library's distribution implementation.
    const double u   = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
    double       acc = 0.0;
    for (const auto & c : candidates_) {
        acc += c.first;
        if (u < acc) {
            return c.second;
        }
    }
    return candidates_.back().second;
}

}  // namespace sluice
