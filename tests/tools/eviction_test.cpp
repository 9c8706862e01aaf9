// Eviction policies replayed by `sluice simulate`, as one MoE layer where each token uses one
// expert. Belady's OPT on the textbook reference string (Silberschatz, Galvin and Gagne,
// "Operating System Concepts", chapter 9: 20 references to 8 pages in 3 frames cost OPT 9
// faults, LRU 12), and OPT never reads more than any other policy on the trained model's
// trace. DECAY (uses weighted by 2^(-age / 32 passes)) keeps a frequent expert over a recent
// one, as LFU does, and forgets uses long past, as LFU does not: sequences where each choice
// shows in the count of reads. MARKOV learns which expert follows which and keeps the one the
// next token will want, where recency and frequency cannot tell.
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

// 0 0 0 1 2 0 in 2 slots: at the 2, expert 0 (three uses) stays under DECAY and LFU, so the
// last 0 hits; LRU evicts it (used before the 1) and reads it again.
TEST(decay, keeps_the_frequent_expert) {
    const routing_trace t = one_expert_per_token({0, 0, 0, 1, 2, 0});
    EXPECT_EQ(faults(t, eviction_policy::DECAY, 2, 4), 3u);
    EXPECT_EQ(faults(t, eviction_policy::LFU, 2, 4), 3u);
    EXPECT_EQ(faults(t, eviction_policy::LRU, 2, 4), 4u);
}

// 0 0 0, then 1 two hundred times, 2, 3, 2 in 3 slots: when 3 arrives, 0's three uses are 200
// passes old (worth 3 x 2^(-200/32) = 0.04 now) and 2's one use is 1 pass old (0.98): DECAY
// evicts 0 and the last 2 hits; LFU keeps 0 (3 uses against 1) and reads 2 again.
TEST(decay, forgets_uses_long_past) {
    std::vector<int32_t> refs = {0, 0, 0};
    refs.insert(refs.end(), 200, 1);
    refs.insert(refs.end(), {2, 3, 2});
    const routing_trace t = one_expert_per_token(refs);
    EXPECT_EQ(faults(t, eviction_policy::DECAY, 3, 4), 4u);
    EXPECT_EQ(faults(t, eviction_policy::LFU, 3, 4), 5u);
}

// 0 1 2 3 ten times through 3 slots, one expert per token. Every expert is used as often as the
// others, so DECAY evicts the least recent, as LRU does, and that is always the one asked for
// next: 40 reads. MARKOV has seen 0 -> 1 -> 2 -> 3 -> 0 once by token 4 and from then on keeps
// the expert that follows the current one (its chance at token 4: (1 + 1/4) / 2 against 1/8,
// worth 16 uses more): of the 36 tokens from token 4 on, every other one reads, 4 + 18 = 22.
// NEXT_TOKEN, told the next expert, does the same from token 3 on: 4 + 18 (tokens 5, 7, ..., 39).
TEST(markov, keeps_the_expert_that_follows) {
    std::vector<int32_t> refs;
    for (int i = 0; i < 10; ++i) {
        refs.insert(refs.end(), {0, 1, 2, 3});
    }
    const routing_trace t = one_expert_per_token(refs);
    EXPECT_EQ(faults(t, eviction_policy::LRU, 3, 4), 40u);
    EXPECT_EQ(faults(t, eviction_policy::DECAY, 3, 4), 40u);
    EXPECT_EQ(faults(t, eviction_policy::MARKOV, 3, 4), 22u);
    EXPECT_EQ(faults(t, eviction_policy::NEXT_TOKEN, 3, 4), 22u);
}

// On learned routing (4 of 32 experts per layer, 8 layers) no policy, with or without a
// predictor, reads fewer experts than OPT on demand at the same slots.
TEST(belady, no_policy_beats_opt_on_the_trained_trace) {
    engine        e = test::trained_engine();
    routing_trace trace;
    trace.tokens = record_trace(e, test::python_tokens(e, 256), trace_options{});
    for (double share : {0.25, 0.5}) {
        simulate_options o;
        o.budget_share      = share;
        o.quota             = quota_policy::UNIFORM;
        o.eviction          = eviction_policy::OPT;
        o.predictor         = predictor_kind::NONE;
        const uint64_t best = simulate(trace, o).total().reads;
        for (eviction_policy p : {eviction_policy::LRU, eviction_policy::LFU, eviction_policy::PREDICTIVE,
                                  eviction_policy::DECAY, eviction_policy::MARKOV, eviction_policy::NEXT_TOKEN}) {
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
