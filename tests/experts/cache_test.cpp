// The cache's bookkeeping and planning, checked against hand-worked cases.
#include "experts/cache/cache_index.h"
#include "experts/cache/cache_plan.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice {
namespace {

// Loads `e` into layer 0 as the streaming source would: claim, mark ready, use.
int load(cache_index & c, int32_t e, bool prefetch = false) {
    const eviction ev = c.claim(0, e, prefetch);
    if (ev.slot >= 0) {
        c.slot(0, ev.slot).status = slot_status::READY;
        if (!prefetch) {
            c.touch(0, ev.slot);
        }
    }
    return ev.slot;
}

TEST(cache_index, lru_evicts_the_least_recently_used) {
    cache_index c({3}, 8, eviction_policy::LRU);
    load(c, 1);
    load(c, 2);
    load(c, 3);
    c.touch(0, c.find(0, 1));  // 2 is now the oldest
    const eviction ev = c.claim(0, 4, false);
    EXPECT_EQ(ev.evicted, 2);
    EXPECT_EQ(c.find(0, 2), -1);
    EXPECT_EQ(c.find(0, 4), ev.slot);
}

TEST(cache_index, lfu_evicts_the_least_often_used_over_the_run) {
    cache_index c({2}, 8, eviction_policy::LFU);
    load(c, 1);
    load(c, 2);
    for (int i = 0; i < 3; ++i) {
        c.touch(0, c.find(0, 1));
    }
    c.touch(0, c.find(0, 2));  // most recent, but used twice against 1's four times
    EXPECT_EQ(c.claim(0, 3, false).evicted, 2);
}

TEST(cache_index, predictive_spares_what_the_predictor_named) {
    cache_index c({2}, 8, eviction_policy::PREDICTIVE);
    load(c, 1);
    load(c, 2);
    c.set_predicted(0, {1});  // 1 is the older, but was predicted
    EXPECT_EQ(c.claim(0, 3, false).evicted, 2);
}

TEST(cache_index, held_and_pinned_slots_are_never_evicted_loading_ones_say_so) {
    cache_index c({3}, 8, eviction_policy::LRU);
    const int   a = load(c, 1);
    const int   b = load(c, 2);
    c.claim(0, 3, true);  // still loading
    c.slot(0, a).held   = true;
    c.slot(0, b).pinned = true;
    const eviction ev   = c.claim(0, 4, false);
    EXPECT_EQ(ev.evicted, 3);
    EXPECT_TRUE(ev.loading);  // the caller must let its read finish first
    c.slot(0, ev.slot).held = true;
    EXPECT_EQ(c.claim(0, 5, false).slot, -1);
    c.release_all();
    EXPECT_EQ(c.claim(0, 5, false).evicted, 1);
}

TEST(cache_index, prefetch_never_evicts_a_prediction_and_reports_waste) {
    cache_index c({2}, 8, eviction_policy::LRU);
    load(c, 1, true);  // prefetched, never used
    load(c, 2);
    c.set_predicted(0, {1, 5});
    const eviction ev = c.claim(0, 5, true);
    EXPECT_EQ(ev.evicted, 2);  // 1 is older but predicted
    EXPECT_FALSE(ev.wasted);
    c.slot(0, ev.slot).status = slot_status::READY;
    c.set_predicted(0, {});
    const eviction ev2 = c.claim(0, 6, false);
    EXPECT_EQ(ev2.evicted, 1);
    EXPECT_TRUE(ev2.wasted);  // read on a guess and never used
}

// MARKOV's chance that the next pass uses an expert, by hand: after a pass using a, the share of
// the passes after a that used it, and a noisy-or over the experts of the current pass. No
// expert has been touched, so the smoothing towards each expert's share adds nothing.
TEST(cache_index, markov_learns_which_expert_follows_which) {
    cache_index c({2}, 4, eviction_policy::MARKOV);
    c.begin_pass(0, std::vector<int32_t>{0}, true);
    c.begin_pass(0, std::vector<int32_t>{1}, true);  // 0 -> 1
    c.begin_pass(0, std::vector<int32_t>{0}, true);  // 1 -> 0
    EXPECT_DOUBLE_EQ(c.markov_chance(0, 1), 0.5);    // 1 of the 1 passes after a 0, smoothed: 1 / (1 + 1)
    EXPECT_DOUBLE_EQ(c.markov_chance(0, 2), 0.0);
    c.begin_pass(0, std::vector<int32_t>{0, 1}, true);  // 0 -> 0, 1: after a 0, 1 twice in 2
    // 1 - (1 - 2/3) x (1 - 0/2) for expert 1; 1 - (1 - 1/3) x (1 - 1/2) for expert 0.
    EXPECT_NEAR(c.markov_chance(0, 1), 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(c.markov_chance(0, 0), 2.0 / 3.0, 1e-12);
}

// A batch's union (or a turn of it) is not one token's experts: nothing is learned from it or
// into it, and learning resumes with the next two one-token passes.
TEST(cache_index, markov_learns_nothing_from_a_batch) {
    cache_index c({2}, 4, eviction_policy::MARKOV);
    c.begin_pass(0, std::vector<int32_t>{2, 3}, false);
    c.begin_pass(0, std::vector<int32_t>{0}, true);  // {2, 3} -> 0: not learned
    c.begin_pass(0, std::vector<int32_t>{2}, true);  // 0 -> 2
    EXPECT_DOUBLE_EQ(c.markov_chance(0, 0), 0.0);
    c.begin_pass(0, std::vector<int32_t>{0}, false);  // 2 -> the batch: not learned
    c.begin_pass(0, std::vector<int32_t>{2}, true);
    EXPECT_DOUBLE_EQ(c.markov_chance(0, 0), 0.0);
    c.begin_pass(0, std::vector<int32_t>{0}, true);  // 2 -> 0
    c.begin_pass(0, std::vector<int32_t>{2}, true);  // 0 -> 2
    EXPECT_DOUBLE_EQ(c.markov_chance(0, 0), 0.5);
}

TEST(cache_plan, every_layer_gets_k_and_the_budget_holds) {
    const std::vector<uint64_t> bytes = {0, 100, 100, 100, 100};  // a dense block first
    const cache_plan            p     = plan_cache(1600, bytes, 8, 2, quota_policy::UNIFORM);
    EXPECT_EQ(p.slots[0], 0);
    for (int l = 1; l < 5; ++l) {
        EXPECT_EQ(p.slots[l], 4) << l;
    }
    EXPECT_LE(p.bytes, 1600u);
}

TEST(cache_plan, shallow_layers_get_more) {
    const std::vector<uint64_t> bytes(4, 100);
    const cache_plan            p = plan_cache(2000, bytes, 16, 2, quota_policy::SHALLOW);
    EXPECT_GT(p.slots[0], p.slots[3]);
    EXPECT_GE(p.slots[3], 2);
    EXPECT_LE(p.bytes, 2000u);
    EXPECT_GT(p.bytes, 2000u - 100u * 4);  // what rounding leaves is handed out
}

TEST(cache_plan, popularity_follows_the_spread) {
    const std::vector<uint64_t> bytes(2, 100);
    const cache_plan            p = plan_cache(1400, bytes, 16, 2, quota_policy::POPULARITY, {9.0, 1.0});
    EXPECT_GT(p.slots[0], p.slots[1]);
    EXPECT_THROW(plan_cache(1400, bytes, 16, 2, quota_policy::POPULARITY), error);
}

TEST(cache_plan, no_layer_gets_more_slots_than_experts) {
    const cache_plan p = plan_cache(1u << 30, {100, 100}, 8, 2, quota_policy::SHALLOW);
    EXPECT_EQ(p.slots[0], 8);
    EXPECT_EQ(p.slots[1], 8);
}

TEST(cache_plan, too_small_a_budget_says_how_much_is_needed) {
    try {
        plan_cache(399, {100, 100}, 8, 2, quota_policy::UNIFORM);
        FAIL();
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("400 bytes"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace sluice
