#include "experts/cache/cache_plan.h"

#include "util/error.h"

#include <algorithm>
#include <numeric>

namespace sluice {

quota_policy parse_quota_policy(std::string_view name) {
    if (name == "uniform") {
        return quota_policy::UNIFORM;
    }
    if (name == "shallow") {
        return quota_policy::SHALLOW;
    }
    if (name == "popularity") {
        return quota_policy::POPULARITY;
    }
    fail("unknown cache quota '{}' (expected uniform, shallow or popularity)", name);
}

std::string_view name_of(quota_policy p) {
    switch (p) {
        case quota_policy::UNIFORM:
            return "uniform";
        case quota_policy::SHALLOW:
            return "shallow";
        case quota_policy::POPULARITY:
            return "popularity";
    }
    return "?";
}

cache_plan plan_cache(uint64_t budget, const std::vector<uint64_t> & slot_bytes, int n_expert, int k_min,
                      quota_policy policy, const std::vector<double> & spread) {
    const auto n_layer = static_cast<int>(slot_bytes.size());
    cache_plan plan;
    plan.slot_bytes = slot_bytes;
    plan.slots.assign(static_cast<size_t>(n_layer), 0);

    std::vector<int> moe;
    uint64_t         needed = 0;
    for (int l = 0; l < n_layer; ++l) {
        if (slot_bytes[l] > 0) {
            moe.push_back(l);
            needed += static_cast<uint64_t>(k_min) * slot_bytes[l];
        }
    }
    if (budget < needed) {
        fail(
            "--expert-budget of {} bytes is too small: every MoE layer must hold the {} experts a token selects "
            "at once, {} bytes over {} layers (and more for prefetching)",
            budget, k_min, needed, moe.size());
    }
    if (policy == quota_policy::POPULARITY && spread.size() != slot_bytes.size()) {
        fail("the popularity cache quota needs a calibration file (--calibration) measured on this model");
    }

    // Weights: how much of the budget beyond the minimum each layer should get.
    std::vector<double> w(static_cast<size_t>(n_layer), 0.0);
    for (size_t i = 0; i < moe.size(); ++i) {
        const int l = moe[i];
        switch (policy) {
            case quota_policy::UNIFORM:
                w[l] = 1.0;
                break;
            case quota_policy::SHALLOW:  // 2 for the first MoE layer falling to 1 for the last
                w[l] = moe.size() > 1 ? 2.0 - static_cast<double>(i) / static_cast<double>(moe.size() - 1) : 1.0;
                break;
            case quota_policy::POPULARITY:
                w[l] = std::max(spread[l], 1.0);
                break;
        }
    }
    for (int l : moe) {
        plan.slots[l] = k_min;
    }
    uint64_t     left  = budget - needed;
    const double w_sum = std::accumulate(w.begin(), w.end(), 0.0);
    for (int l : moe) {
        const double share = static_cast<double>(left) * w[l] / w_sum;
        const auto   extra =
            std::min<uint64_t>(static_cast<uint64_t>(share) / slot_bytes[l], static_cast<uint64_t>(n_expert - k_min));
        plan.slots[l] += static_cast<int>(extra);
    }
    for (int l : moe) {
        plan.bytes += static_cast<uint64_t>(plan.slots[l]) * slot_bytes[l];
    }
    // What rounding left over goes one slot at a time, heaviest weight first.
    std::vector<int> order = moe;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return w[a] > w[b]; });
    for (bool grew = true; grew;) {
        grew = false;
        for (int l : order) {
            if (plan.slots[l] < n_expert && plan.bytes + slot_bytes[l] <= budget) {
                ++plan.slots[l];
                plan.bytes += slot_bytes[l];
                grew = true;
            }
        }
    }
    return plan;
}

}  // namespace sluice
