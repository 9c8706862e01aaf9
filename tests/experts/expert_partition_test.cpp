// expert_partition: which rank owns which expert under --expert-parallel, checked by hand.
#include "experts/expert_parallel.h"
#include "util/error.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(expert_partition, round_robin_gives_expert_e_to_rank_e_mod_n) {
    const int              n[] = {8, 0, 5};  // a dense block in the middle
    const expert_partition p   = expert_partition::round_robin(n, 3);
    EXPECT_EQ(p.n_layer(), 3);
    EXPECT_EQ(p.owned(0, 0), (std::vector<int32_t>{0, 3, 6}));
    EXPECT_EQ(p.owned(0, 1), (std::vector<int32_t>{1, 4, 7}));
    EXPECT_EQ(p.owned(0, 2), (std::vector<int32_t>{2, 5}));
    EXPECT_TRUE(p.owned(1, 0).empty());
    EXPECT_EQ(p.owned(2, 1), (std::vector<int32_t>{1, 4}));
    EXPECT_EQ(p.scheme(), "round-robin");
}

// Counts 40, 30, 20, 10, 5, 5 over 2 ranks, most popular first to the lighter rank:
// 40 -> r0, 30 -> r1, 20 -> r1 (30 < 40), 10 -> r0 (40 < 50), 5 -> r0 (50 = 50: the lower
// rank), then r0 holds 3 = ceil(6/2), so the last 5 -> r1. Loads 55 and 55.
TEST(expert_partition, popularity_balances_load_longest_first) {
    const int                              n[]    = {6};
    const std::vector<std::vector<double>> counts = {{5, 40, 10, 30, 20, 5}};
    const expert_partition                 p      = expert_partition::by_popularity(n, counts, 2);
    EXPECT_EQ(p.owned(0, 0), (std::vector<int32_t>{0, 1, 2}));  // 5 + 40 + 10
    EXPECT_EQ(p.owned(0, 1), (std::vector<int32_t>{3, 4, 5}));  // 30 + 20 + 5
    EXPECT_EQ(p.scheme(), "popularity");
}

TEST(expert_partition, popularity_without_counts_for_a_layer_is_round_robin) {
    const int                              n[]    = {4, 4};
    const std::vector<std::vector<double>> counts = {{}, {1, 2, 3, 4}};
    const expert_partition                 p      = expert_partition::by_popularity(n, counts, 2);
    EXPECT_EQ(p.owned(0, 0), (std::vector<int32_t>{0, 2}));
    EXPECT_EQ(p.owned(1, 0), (std::vector<int32_t>{0, 3}));  // 4 -> r0, 3 -> r1, 2 -> r1, 1 -> r0
}

TEST(expert_partition, every_expert_has_exactly_one_owner) {
    const int              n[] = {7, 13};
    const expert_partition p   = expert_partition::round_robin(n, 4);
    for (int l = 0; l < 2; ++l) {
        size_t total = 0;
        for (int r = 0; r < 4; ++r) {
            total += p.owned(l, r).size();
        }
        EXPECT_EQ(total, static_cast<size_t>(n[l]));
    }
}

TEST(expert_partition, fingerprint_tells_partitions_apart) {
    const int                              n[]    = {6};
    const std::vector<std::vector<double>> counts = {{5, 40, 10, 30, 20, 5}};
    EXPECT_EQ(expert_partition::round_robin(n, 2).fingerprint(), expert_partition::round_robin(n, 2).fingerprint());
    EXPECT_NE(expert_partition::round_robin(n, 2).fingerprint(), expert_partition::round_robin(n, 3).fingerprint());
    EXPECT_NE(expert_partition::round_robin(n, 2).fingerprint(),
              expert_partition::by_popularity(n, counts, 2).fingerprint());
}

TEST(expert_partition, zero_ranks_is_an_error) {
    const int n[] = {4};
    EXPECT_THROW(expert_partition::round_robin(n, 0), error);
}

}  // namespace
}  // namespace sluice
