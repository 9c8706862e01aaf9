// available_memory_bytes() sees a memory cgroup's limit, which /proc/meminfo does not: a child
// moved into a group limited to 64 MiB must be told at most that. Needs a cgroup it may make
// (root; v1 or v2), else skips.
#include "util/memory_cgroup.h"
#include "util/memory_stats.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

namespace sluice {
namespace {

TEST(available_memory, is_positive_and_at_most_physical_memory) {
    const uint64_t physical =
        static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t a = available_memory_bytes();
    EXPECT_GT(a, 0u);
    EXPECT_LE(a, physical);
}

TEST(available_memory, a_memory_cgroup_limit_caps_it) {
    const uint64_t                     limit = uint64_t{64} << 20;
    const std::optional<memory_cgroup> group = memory_cgroup::make(fmt::format("sluice-test-{}", ::getpid()), limit);
    if (!group) {
        GTEST_SKIP() << "no memory cgroup can be made here";
    }
    const memory_cgroup::child_result r = group->run_child([] { return std::to_string(available_memory_bytes()); });
    ASSERT_TRUE(WIFEXITED(r.status)) << r.status;
    const uint64_t got = std::stoull(r.out);
    EXPECT_GT(got, 0u);
    EXPECT_LE(got, limit);
    EXPECT_LT(limit, available_memory_bytes()) << "this machine has less than 64 MiB free: the check proves nothing";
}

}  // namespace
}  // namespace sluice
