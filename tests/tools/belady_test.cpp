// `sluice simulate --policy opt`: Belady's optimal eviction, checked on the textbook reference
// string (Silberschatz, Galvin and Gagne, "Operating System Concepts", chapter 9: 20 references
// to 8 pages in 3 frames cost OPT 9 faults, LRU 12), as one MoE layer where each token uses one
// expert; and OPT never reads more than any other policy on the trained model's trace.
#include "corpus.h"
#include "tools/route_trace.h"
#include "tools/simulate.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

routing_trace one_expert_per_token(const std::vector<int32_t> & refs) {
    routing_trace t;
    for (size_t i = 0; i < refs.size(); ++i) {
        trace_token tok;
        tok.pos = static_cast<int64_t>(i);
        tok.layers.push_back(trace_layer{.layer = 0, .experts = {refs[i]}, .weights = {1.0f}, .guess = {}});
        t.tokens.push_back(std::move(tok));
    }
    return t;
}

uint64_t faults(const routing_trace & t, eviction_policy p, int frames, int n_expert) {
    simulate_options o;
    o.budget_share        = static_cast<double>(frames) / n_expert;
    o.eviction            = p;
    o.predictor           = predictor_kind::NONE;
    o.quota               = quota_policy::UNIFORM;
    o.n_expert            = n_expert;
    const stream_stats st = simulate(t, o);
    EXPECT_EQ(st.slots.at(0), frames);
    return st.total().reads;
}

TEST(belady, textbook_reference_string) {
    const routing_trace t = one_expert_per_token({7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1});
    EXPECT_EQ(faults(t, eviction_policy::OPT, 3, 8), 9u);
    EXPECT_EQ(faults(t, eviction_policy::LRU, 3, 8), 12u);
}

// Belady's anomaly string (1 2 3 4 1 2 5 1 2 3 4 5): OPT takes 7 faults in 3 frames, 6 in 4.
TEST(belady, more_frames_never_hurt_opt) {
    const routing_trace t = one_expert_per_token({1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5});
    EXPECT_EQ(faults(t, eviction_policy::OPT, 3, 8), 7u);
    EXPECT_EQ(faults(t, eviction_policy::OPT, 4, 8), 6u);
}

// On learned routing (4 of 32 experts per layer, 8 layers) no policy, with or without a
// predictor, reads fewer experts than OPT on demand at the same slots.
TEST(belady, no_policy_beats_opt_on_the_trained_trace) {
    engine_options eo;
    eo.model_path = test::trained_model;
    engine        e(eo);
    routing_trace trace;
    trace.tokens = record_trace(e, test::python_tokens(e, 256), trace_options{});
    for (double share : {0.25, 0.5}) {
        simulate_options o;
        o.budget_share      = share;
        o.quota             = quota_policy::UNIFORM;
        o.eviction          = eviction_policy::OPT;
        o.predictor         = predictor_kind::NONE;
        const uint64_t best = simulate(trace, o).total().reads;
        for (eviction_policy p : {eviction_policy::LRU, eviction_policy::LFU, eviction_policy::PREDICTIVE}) {
            for (predictor_kind k : {predictor_kind::NONE, predictor_kind::HISTORY, predictor_kind::ORACLE}) {
                o.eviction  = p;
                o.predictor = k;
                EXPECT_GE(simulate(trace, o).total().reads, best) << share << " " << name_of(p) << " " << name_of(k);
            }
        }
    }
}

}  // namespace
}  // namespace sluice
