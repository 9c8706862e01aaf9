// The thread pool runs every task exactly once, gives each task a valid thread index, and
// can be reused for many rounds (the kernels call it thousands of times per token).
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace sluice {
namespace {

TEST(thread_pool, runs_every_task_once) {
    for (int threads : {1, 2, 3, 8}) {
        thread_pool      pool(threads);
        std::vector<int> hits(1000, 0);
        std::atomic<int> bad_thread{0};
        pool.parallel_for(static_cast<int64_t>(hits.size()), [&](int64_t task, int thread) {
            hits[static_cast<size_t>(task)] += 1;  // each index is written by one task only
            if (thread < 0 || thread >= threads) bad_thread++;
        });
        for (int h : hits) EXPECT_EQ(h, 1) << threads << " threads";
        EXPECT_EQ(bad_thread.load(), 0);
    }
}

TEST(thread_pool, many_rounds_and_empty_rounds) {
    thread_pool          pool(2);
    std::atomic<int64_t> sum{0};
    for (int round = 0; round < 2000; ++round) {
        pool.parallel_for(round % 5, [&](int64_t task, int) { sum += task + 1; });
    }
    // rounds with n tasks add n(n+1)/2; n cycles through 0..4, 400 times each
    EXPECT_EQ(sum.load(), 400 * (0 + 1 + 3 + 6 + 10));
}

TEST(thread_pool, uses_more_than_one_thread_when_asked) {
    thread_pool       pool(2);
    std::atomic<int>  seen_mask{0};
    std::atomic<bool> go{false};
    // Task 0 waits until some other thread has run a task, which only happens if a second
    // thread exists and takes part.
    pool.parallel_for(2, [&](int64_t task, int thread) {
        seen_mask |= 1 << thread;
        if (task == 0) {
            while (!go.load()) {
            }
        } else {
            go = true;
        }
    });
    EXPECT_EQ(seen_mask.load(), 3);
}

TEST(thread_pool, workers_sent_to_rest_take_part_in_the_next_call) {
    // rest() puts the spinning workers to sleep; every later parallel_for must wake them all.
    // Each round's tasks wait for one another, so a worker left asleep fails the round (with a
    // bound on the wait, not a hang).
    constexpr int threads = 3;
    thread_pool   pool(threads);
    for (int round = 0; round < 50; ++round) {
        pool.rest();
        if (round % 2 == 1) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));  // past the spin: asleep anyway
        }
        std::atomic<int>  arrived{0};
        std::atomic<int>  seen_mask{0};
        std::atomic<bool> all_met{true};
        pool.parallel_for(threads, [&](int64_t, int thread) {
            seen_mask |= 1 << thread;
            ++arrived;
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (arrived.load() < threads) {
                if (std::chrono::steady_clock::now() > until) {
                    all_met = false;
                    return;
                }
            }
        });
        ASSERT_TRUE(all_met.load()) << "round " << round;
        EXPECT_EQ(seen_mask.load(), (1 << threads) - 1) << "round " << round;
    }
}

TEST(thread_pool, zero_threads_means_hardware) {
    thread_pool pool(0);
    EXPECT_GE(pool.size(), 1);
}

}  // namespace
}  // namespace sluice
