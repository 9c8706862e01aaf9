// A forward_observer that keeps every routing decision: per position and MoE layer, the
// chosen experts (in router order) and their weights. Used by `sluice logits --json` and the
// golden tests.
#pragma once

#include "model/model.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

struct routing_recorder final : forward_observer {
    explicit routing_recorder(int layers) : n_layer(layers) {}

    int                                            n_layer;
    std::vector<std::vector<std::vector<int32_t>>> experts;  // [position][layer][k]
    std::vector<std::vector<std::vector<float>>>   weights;  // [position][layer][k]

    void on_routing(int layer, int64_t position, std::span<const int32_t> ids, std::span<const float> w,
                    std::span<const float>) override {
        const auto p = static_cast<size_t>(position);
        if (experts.size() <= p) {
            experts.resize(p + 1, std::vector<std::vector<int32_t>>(n_layer));
            weights.resize(p + 1, std::vector<std::vector<float>>(n_layer));
        }
        experts[p][layer].assign(ids.begin(), ids.end());
        weights[p][layer].assign(w.begin(), w.end());
    }
};

}  // namespace sluice
