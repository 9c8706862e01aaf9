// `sluice simulate`: replay a routing trace through the expert cache's own bookkeeping
// (expert_cache, the very code the streaming source runs, and plan_cache) with a predictor
// and a policy, to compare them in seconds without running the model. Reads are assumed to
// finish before they are needed, so the hit rate is what prefetching could at best deliver;
// the live benchmark measures whether it does.
#pragma once

#include "experts/cache/cache_index.h"
#include "experts/cache/cache_plan.h"
#include "experts/cache/shadow_policy.h"
#include "experts/calibration.h"
#include "experts/predict/predictor.h"
#include "experts/streaming_stats.h"
#include "experts/trace.h"

#include <cstdint>
#include <vector>

namespace sluice {

struct simulate_options {
    double          budget_share  = 0.25;  // of every layer's experts
    predictor_kind  predictor     = predictor_kind::CROSS_LAYER;
    eviction_policy eviction      = eviction_policy::PREDICTIVE;
    quota_policy    quota         = quota_policy::SHALLOW;
    int             predict_extra = 2;
    int             n_expert      = 0;  // 0: the largest id in the trace + 1
    // frequency and popularity: counts from here, else from the trace itself (optimistic:
    // the same text it is tested on).
    const calibration * calib = nullptr;
    // Tokens replayed before the counters start (a benchmark's prompt: the cache warms on it).
    int64_t warmup_tokens = 0;
    // Sizes as the live cache counts them (from the model: `sluice simulate -m`): per block, the
    // bytes one slot takes, which plan_cache fits into the budget, and the bytes one read moves.
    // Empty: every expert counts 1 of each.
    std::vector<uint64_t> slot_bytes, read_bytes;
    // Which reads go to an expert shadow (--shadow), and the bytes one such read moves per
    // block (empty: 1 each). slot_bytes must then be the live cache's for that policy.
    shadow_policy         shadow = shadow_policy::NONE;
    std::vector<uint64_t> shadow_read_bytes;
    uint64_t              budget_bytes = 0;  // with slot_bytes: the budget (0: budget_share of all slots)
};

// Counters as the live cache reports them; bytes count experts (one expert = 1 byte).
stream_stats simulate(const routing_trace & trace, const simulate_options & opt);

}  // namespace sluice
