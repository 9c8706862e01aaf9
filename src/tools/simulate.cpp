#include "tools/simulate.h"

#include "experts/cache/expert_cache.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace sluice {
namespace {

// A simulation's reads are done as they start: the hit rate is what prefetching could at
// best deliver.
class instant_reads final : public cache_reads {
  public:
    read_start start_read(int, int, int32_t, bool, bool) override { return read_start::DONE; }
    void       wait_read(int, int) override {}
    void       abandon_read(int, int) override {}
};

// Where each (layer, expert) is used next, for Belady's OPT: the trace positions of its uses,
// walked as the replay passes them.
class future_uses {
  public:
    future_uses(const routing_trace & trace, int n_layer, int n_expert)
        : uses_(static_cast<size_t>(n_layer), std::vector<std::vector<uint64_t>>(static_cast<size_t>(n_expert))),
          next_(static_cast<size_t>(n_layer), std::vector<size_t>(static_cast<size_t>(n_expert), 0)) {
        for (size_t t = 0; t < trace.tokens.size(); ++t) {
            for (const trace_layer & l : trace.tokens[t].layers) {
                for (int32_t e : l.experts) {
                    uses_[l.layer][e].push_back(t);
                }
            }
        }
    }

    // When `expert` of `layer` is used at or after token index t (UINT64_MAX: never).
    uint64_t next(int layer, int32_t expert, uint64_t t) {
        const std::vector<uint64_t> & u = uses_[layer][expert];
        size_t &                      i = next_[layer][expert];
        while (i < u.size() && u[i] < t) {
            ++i;
        }
        return i < u.size() ? u[i] : UINT64_MAX;
    }

  private:
    std::vector<std::vector<std::vector<uint64_t>>> uses_;  // [layer][expert] -> token indices
    std::vector<std::vector<size_t>>                next_;  // [layer][expert] -> first index not passed
};

}  // namespace

stream_stats simulate(const routing_trace & trace, const simulate_options & opt) {
    if (trace.tokens.empty()) {
        fail("simulate: the trace is empty");
    }
    int n_layer = 0, n_expert = opt.n_expert, k = 0;
    for (const trace_token & t : trace.tokens) {
        for (const trace_layer & l : t.layers) {
            n_layer = std::max(n_layer, l.layer + 1);
            k       = std::max(k, static_cast<int>(l.experts.size()));
            for (int32_t e : l.experts) {
                if (opt.n_expert == 0) {
                    n_expert = std::max(n_expert, e + 1);
                } else if (e < 0 || e >= n_expert) {
                    fail("simulate: the trace names expert {} of layer {}, but the model has {}", e, l.layer, n_expert);
                }
            }
        }
    }
    // Which layers are MoE layers, and popularity when no calibration is given.
    calibration own;
    own.n_expert = n_expert;
    own.counts.assign(static_cast<size_t>(n_layer), {});
    for (const trace_token & t : trace.tokens) {
        for (const trace_layer & l : t.layers) {
            own.counts[l.layer].resize(static_cast<size_t>(n_expert), 0.0);
            for (int32_t e : l.experts) {
                own.counts[l.layer][e] += 1.0;
            }
        }
    }
    const calibration & calib = opt.calib != nullptr ? *opt.calib : own;

    // The budget over the MoE layers' slots (1 per expert, or the live cache's bytes), spread by
    // the quota policy as the live cache spreads it.
    if (!opt.slot_bytes.empty() &&
        (opt.slot_bytes.size() < static_cast<size_t>(n_layer) || opt.read_bytes.size() != opt.slot_bytes.size())) {
        fail("simulate: the trace names {} blocks, the model's sizes cover {}", n_layer, opt.slot_bytes.size());
    }
    if (!opt.shadow_read_bytes.empty() && opt.shadow_read_bytes.size() != opt.read_bytes.size()) {
        fail("simulate: the shadow's sizes cover {} blocks, the model's {}", opt.shadow_read_bytes.size(),
             opt.read_bytes.size());
    }
    std::vector<uint64_t> slot_bytes(static_cast<size_t>(n_layer), 0), read_bytes(static_cast<size_t>(n_layer), 0),
        shadow_bytes(static_cast<size_t>(n_layer), 0);
    uint64_t total = 0;
    for (int l = 0; l < n_layer; ++l) {
        if (!own.counts[l].empty()) {
            slot_bytes[l]   = opt.slot_bytes.empty() ? 1 : opt.slot_bytes[l];
            read_bytes[l]   = opt.read_bytes.empty() ? 1 : opt.read_bytes[l];
            shadow_bytes[l] = opt.shadow_read_bytes.empty() ? 1 : opt.shadow_read_bytes[l];
            total += slot_bytes[l] * static_cast<uint64_t>(n_expert);
        }
    }
    const uint64_t   budget = opt.budget_bytes > 0 && !opt.slot_bytes.empty()
                                  ? opt.budget_bytes
                                  : static_cast<uint64_t>(std::llround(opt.budget_share * static_cast<double>(total)));
    const cache_plan plan   = plan_cache(budget, slot_bytes, n_expert, k, opt.quota,
                                       opt.quota == quota_policy::POPULARITY ? calib.spread() : std::vector<double>{});
    instant_reads    reads;
    expert_cache     cache(plan.slots, n_expert, opt.eviction, read_bytes, reads, opt.shadow, shadow_bytes);

    // Predictors that need no hidden state run as they do live; cross-layer and pregate
    // replay the guesses the trace recorded.
    std::vector<router> no_routers(static_cast<size_t>(n_layer));
    predictor_context   pc;
    pc.routers  = no_routers;
    pc.calib    = &calib;
    pc.trace    = &trace;
    pc.n_expert = n_expert;
    std::unique_ptr<expert_predictor> live;
    if (opt.predictor == predictor_kind::HISTORY || opt.predictor == predictor_kind::FREQUENCY ||
        opt.predictor == predictor_kind::ORACLE) {
        live = make_predictor(opt.predictor, pc);
    }
    const std::string recorded(name_of(opt.predictor));

    stream_stats & st                = cache.stats();
    st.reader                        = "simulated";
    st.predictor                     = recorded;
    st.eviction                      = std::string(name_of(opt.eviction));
    st.quota                         = std::string(name_of(opt.quota));
    st.budget                        = budget;
    st.cache_bytes                   = plan.bytes;
    const int                  count = k + opt.predict_extra;
    std::vector<int32_t>       guess, ids, sorted;
    std::vector<size_t>        order;
    std::vector<int>           slots;
    std::optional<future_uses> future;
    if (needs_future(opt.eviction)) {
        future.emplace(trace, n_layer, n_expert);
    }
    for (size_t ti = 0; ti < trace.tokens.size(); ++ti) {
        const trace_token & t = trace.tokens[ti];
        if (opt.warmup_tokens > 0 && ti == static_cast<size_t>(opt.warmup_tokens)) {
            st.tokens = 0;
            std::fill(st.layers.begin(), st.layers.end(), layer_stream_stats{});
        }
        ++st.tokens;
        if (future) {
            cache.set_now(ti);
        }
        for (const trace_layer & l : t.layers) {
            if (future) {  // every expert's next use from this token on (OPT: the victim is the farthest)
                for (int32_t e = 0; e < n_expert; ++e) {
                    cache.set_next_use(l.layer, e, future->next(l.layer, e, ti));
                }
            }
            // The first MoE layer has no block before it to predict from, live or here.
            const bool first = l.layer == t.layers.front().layer;
            if (!first && opt.predictor != predictor_kind::NONE) {
                guess.clear();
                if (live) {
                    live->predict(l.layer - 1, nullptr, std::span(&t.pos, 1), l.layer, count, guess);
                } else {
                    auto it = l.guess.find(recorded);
                    if (it == l.guess.end()) {
                        fail("simulate: the trace has no '{}' guesses (record it with{} `sluice trace`)", recorded,
                             opt.predictor == predictor_kind::PREGATE ? " --calibration in" : "");
                    }
                    guess.assign(it->second.begin(),
                                 it->second.begin() + std::min<size_t>(it->second.size(), static_cast<size_t>(count)));
                }
                cache.release_all();  // as the live source does when the residual stream arrives
                cache.predict(l.layer, guess);
            }
            // As the live cache sees them: the MoE block asks in expert-id order, and the source
            // acquires the experts it holds first.
            sorted = l.experts;
            std::sort(sorted.begin(), sorted.end());
            cache.held_first(l.layer, sorted, order);
            ids.clear();
            for (size_t i : order) {
                ids.push_back(sorted[i]);
            }
            slots.resize(ids.size());
            cache.acquire(l.layer, ids, slots, /*one_token=*/true);  // a trace has one token per pass
            if (live) {
                live->observe(l.layer, l.experts);
            }
        }
    }
    return cache.stats();
}

}  // namespace sluice
