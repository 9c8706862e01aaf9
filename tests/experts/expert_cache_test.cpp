// The cache's admission sequence against hand-worked cases: what is a hit, late or a miss,
// which reads are asked for and waited for, what counts as wasted, and what happens when a
// read is refused or fails. A scripted cache_reads records the calls.
#include "experts/cache/expert_cache.h"

#include "util/error.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

struct scripted_reads final : cache_reads {
    read_start           answer          = read_start::PENDING;  // what start_read says
    bool                 refuse_prefetch = false;
    bool                 fail_wait       = false;
    std::vector<int32_t> started;                                  // experts, in order
    std::vector<int>     waited;                                   // slots
    std::vector<int>     abandoned;                                // slots
    std::vector<int32_t> expert_of = std::vector<int32_t>(8, -1);  // slot -> expert started there
    std::vector<bool>    shadowed;                                 // per start: from the shadow file

    read_start start_read(int, int slot, int32_t expert, bool prefetch, bool shadow) override {
        if (prefetch && refuse_prefetch) {
            return read_start::REFUSED;
        }
        started.push_back(expert);
        shadowed.push_back(shadow);
        expert_of[slot] = expert;
        return answer;
    }
    void wait_read(int, int slot) override {
        waited.push_back(slot);
        if (fail_wait) {
            fail("short read of expert {}", expert_of[slot]);
        }
    }
    void abandon_read(int, int slot) override { abandoned.push_back(slot); }
};

// One MoE layer of 2 slots among 8 experts; one expert counts 10 bytes.
struct fixture {
    scripted_reads reads;
    expert_cache   cache{{2}, 8, eviction_policy::LRU, {10}, reads};

    void acquire(std::vector<int32_t> ids) {
        std::vector<int> slots(ids.size());
        cache.acquire(0, ids, slots);
    }
};

TEST(expert_cache, a_miss_is_read_and_waited_for_then_hits) {
    fixture f;
    f.acquire({3});
    f.acquire({3});
    const layer_stream_stats & s = f.cache.stats().layers[0];
    EXPECT_EQ(s.requests, 2u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.reads, 1u);
    EXPECT_EQ(s.bytes_read, 10u);
    EXPECT_EQ(f.reads.started, std::vector<int32_t>({3}));
    EXPECT_EQ(f.reads.waited.size(), 1u);  // a ready slot is not waited for again
}

TEST(expert_cache, a_guess_still_reading_is_late_and_counts_for_recall) {
    fixture f;
    f.cache.predict(0, std::vector<int32_t>{5, 6, 7});  // 2 slots: 7 is cut
    f.acquire({5});
    const layer_stream_stats & s = f.cache.stats().layers[0];
    EXPECT_EQ(s.predicted, 2u);
    EXPECT_EQ(s.prefetches, 2u);
    EXPECT_EQ(s.late, 1u);
    EXPECT_EQ(s.hits, 0u);
    EXPECT_EQ(s.predicted_used, 1u);
    EXPECT_EQ(s.foreseen, 1u);
    EXPECT_EQ(f.reads.started, std::vector<int32_t>({5, 6}));
}

TEST(expert_cache, reads_that_are_done_at_once_are_hits) {
    fixture f;
    f.reads.answer = read_start::DONE;
    f.cache.predict(0, std::vector<int32_t>{5});
    f.acquire({5});
    EXPECT_EQ(f.cache.stats().layers[0].hits, 1u);
    EXPECT_TRUE(f.reads.waited.empty());
}

TEST(expert_cache, evicting_an_unused_guess_is_waste_and_lets_its_read_end) {
    fixture f;
    f.cache.predict(0, std::vector<int32_t>{5, 6});  // both still reading
    f.cache.predict(0, std::vector<int32_t>{});      // no longer predicted
    f.acquire({1});                                  // evicts 5, the older
    const layer_stream_stats & s = f.cache.stats().layers[0];
    EXPECT_EQ(s.wasted_reads, 1u);
    EXPECT_EQ(s.wasted_bytes, 10u);
    EXPECT_EQ(f.reads.abandoned.size(), 1u);
    // 6 is resident and never used: wasted too, if the run ended here.
    EXPECT_EQ(f.cache.stats_counting_residents().layers[0].wasted_reads, 2u);
    EXPECT_EQ(f.cache.stats().layers[0].wasted_reads, 1u);
}

TEST(expert_cache, a_refused_guess_takes_no_slot_and_no_read) {
    fixture f;
    f.reads.refuse_prefetch = true;
    f.cache.predict(0, std::vector<int32_t>{5, 6});
    EXPECT_EQ(f.cache.index().find(0, 5), -1);
    EXPECT_EQ(f.cache.stats().layers[0].reads, 0u);
    EXPECT_EQ(f.cache.stats().layers[0].predicted, 2u);
}

TEST(expert_cache, a_failed_read_is_forgotten_and_read_again) {
    fixture f;
    f.reads.fail_wait = true;
    EXPECT_THROW(f.acquire({4}), error);
    EXPECT_EQ(f.cache.index().find(0, 4), -1);
    f.reads.fail_wait = false;
    f.acquire({4});
    EXPECT_EQ(f.cache.stats().layers[0].misses, 2u);
    EXPECT_EQ(f.reads.started, std::vector<int32_t>({4, 4}));
}

TEST(expert_cache, pinned_experts_stay_and_leave_less_room) {
    fixture f;
    f.cache.pin(0, 2);
    EXPECT_EQ(f.cache.max_acquire(0), 1);
    f.acquire({1});
    f.acquire({3});
    f.acquire({2});
    EXPECT_EQ(f.cache.stats().layers[0].hits, 1u);
    EXPECT_THROW(f.acquire({1, 3}), error);  // one free slot for two experts
    EXPECT_EQ(f.cache.stats_counting_residents().layers[0].wasted_reads, 0u);
}

// The same layer with a shadow file whose copy of an expert counts 4 bytes.
struct shadow_fixture : fixture {
    explicit shadow_fixture(shadow_policy p) : cache{{2}, 8, eviction_policy::LRU, {10}, reads, p, {4}} {}
    expert_cache cache;

    void acquire(std::vector<int32_t> ids) {
        std::vector<int> slots(ids.size());
        cache.acquire(0, ids, slots);
    }
};

TEST(expert_cache, cold_reads_a_miss_from_the_shadow_and_a_second_use_exact) {
    shadow_fixture f(shadow_policy::COLD);
    f.acquire({3});  // shadow read, lossy use
    f.acquire({3});  // asked for again: read exact into its slot
    f.acquire({3});  // a hit on the exact copy
    const layer_stream_stats & s = f.cache.stats().layers[0];
    EXPECT_EQ(f.reads.started, std::vector<int32_t>({3, 3}));
    EXPECT_EQ(f.reads.shadowed, std::vector<bool>({true, false}));
    EXPECT_EQ(s.reads, 2u);
    EXPECT_EQ(s.shadow_reads, 1u);
    EXPECT_EQ(s.bytes_read, 14u);
    EXPECT_EQ(s.misses, 2u);
    EXPECT_EQ(s.upgrades, 1u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.shadow_uses, 1u);
    EXPECT_EQ(f.reads.waited.size(), 2u);
    EXPECT_FALSE(f.cache.index().slot(0, f.cache.index().find(0, 3)).shadow);
}

TEST(expert_cache, cold_reads_guesses_exact) {
    shadow_fixture f(shadow_policy::COLD);
    f.cache.predict(0, std::vector<int32_t>{5});
    f.acquire({5});
    EXPECT_EQ(f.reads.shadowed, std::vector<bool>({false}));
    EXPECT_EQ(f.cache.stats().layers[0].shadow_uses, 0u);
}

TEST(expert_cache, speculative_reads_guesses_from_the_shadow_and_demand_exact) {
    shadow_fixture f(shadow_policy::SPECULATIVE);
    f.cache.predict(0, std::vector<int32_t>{5, 6});  // two shadow reads
    f.acquire({5});                                  // late, served by the shadow copy
    f.acquire({5});                                  // again: read exact
    f.acquire({1});                                  // a miss: exact; evicts 6, never used
    const layer_stream_stats & s = f.cache.stats().layers[0];
    EXPECT_EQ(f.reads.started, std::vector<int32_t>({5, 6, 5, 1}));
    EXPECT_EQ(f.reads.shadowed, std::vector<bool>({true, true, false, false}));
    EXPECT_EQ(s.late, 1u);
    EXPECT_EQ(s.shadow_uses, 1u);
    EXPECT_EQ(s.upgrades, 1u);
    EXPECT_EQ(s.bytes_read, 4u + 4u + 10u + 10u);
    EXPECT_EQ(s.wasted_reads, 1u);
    EXPECT_EQ(s.wasted_bytes, 4u);  // the shadow copy's bytes
}

TEST(expert_cache, all_reads_only_the_shadow_and_keeps_it) {
    shadow_fixture f(shadow_policy::ALL);
    f.acquire({3});
    f.acquire({3});
    f.cache.pin(0, 2);
    const layer_stream_stats & s = f.cache.stats().layers[0];
    EXPECT_EQ(f.reads.shadowed, std::vector<bool>({true, true}));
    EXPECT_EQ(s.upgrades, 0u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.shadow_uses, 2u);
    EXPECT_EQ(s.bytes_read, 8u);
}

TEST(expert_cache, a_shadow_policy_needs_shadow_sizes) {
    scripted_reads reads;
    EXPECT_THROW(expert_cache({2}, 8, eviction_policy::LRU, {10}, reads, shadow_policy::COLD, {}), error);
}

}  // namespace
}  // namespace sluice
