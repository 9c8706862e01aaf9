// The block device counters behind the streaming benchmark's "disk busy" column: parsed from
// the kernel's stat line (fields as Documentation/block/stat.rst lists them), and turned into
// a busy share and a rate.
#include "experts/io/disk_activity.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace sluice {
namespace {

TEST(disk_activity, reads_sectors_and_io_ticks_from_a_stat_line) {
    // A line of /sys/block/vda/stat (17 fields, kernel 5.x), columns right-aligned as the
    // kernel prints them: 2514300 reads, 1 merge, 4912128 sectors, ..., io_ticks 356412.
    const char * line =
        "  2514300        1  4912128   871234    12345      678   901234    5678        0   356412   880000        0  "
        "      0        0        0     1234     5678";
    const std::optional<disk_counters> c = parse_block_stat(line);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->bytes_read, 4912128ull * 512);
    EXPECT_EQ(c->busy_ms, 356412u);
    // The eleven fields of old kernels are enough.
    const std::optional<disk_counters> old = parse_block_stat("1 2 3 4 5 6 7 8 9 10 11\n");
    ASSERT_TRUE(old.has_value());
    EXPECT_EQ(old->bytes_read, 3u * 512);
    EXPECT_EQ(old->busy_ms, 10u);
}

TEST(disk_activity, refuses_what_is_not_a_stat_line) {
    EXPECT_FALSE(parse_block_stat(""));
    EXPECT_FALSE(parse_block_stat("1 2 3 4 5 6 7 8 9"));  // io_ticks missing
    EXPECT_FALSE(parse_block_stat("1 2 x 4 5 6 7 8 9 10 11"));
    EXPECT_FALSE(parse_block_stat("1 2 3 4 5 6 7 8 9 -10 11"));
    EXPECT_FALSE(parse_block_stat("1 2 3 4 5 6 7 8 9 10z 11"));
}

TEST(disk_activity, busy_share_and_rate_over_an_interval) {
    // 600 ms busy of 800 ms, 3e9 bytes read: 75% busy, 5 GB/s while busy.
    const disk_interval d = disk_interval_of({.bytes_read = 1000, .busy_ms = 100},
                                             {.bytes_read = 1000 + 3'000'000'000ull, .busy_ms = 700}, 800.0);
    EXPECT_DOUBLE_EQ(d.busy, 0.75);
    EXPECT_DOUBLE_EQ(d.gb_per_s, 5.0);
    // io_ticks counts whole milliseconds: never more busy than the wall time.
    EXPECT_DOUBLE_EQ(disk_interval_of({0, 0}, {0, 11}, 10.0).busy, 1.0);
    // Never busy: no rate; counters that went back say nothing.
    EXPECT_DOUBLE_EQ(disk_interval_of({5, 5}, {5, 5}, 10.0).gb_per_s, 0.0);
    const disk_interval back = disk_interval_of({100, 100}, {50, 50}, 10.0);
    EXPECT_DOUBLE_EQ(back.busy, 0.0);
    EXPECT_DOUBLE_EQ(back.gb_per_s, 0.0);
}

TEST(disk_activity, no_device_for_a_missing_file) {
    EXPECT_FALSE(disk_activity::of_file("/nonexistent/sluice/model.gguf"));
}

TEST(disk_activity, a_file_on_a_block_device_reads_its_counters_when_sysfs_has_them) {
    // Where the temp directory lies on a block device with counters (not tmpfs or overlay),
    // they read back, and they never go backwards.
    const auto d = disk_activity::of_file(std::filesystem::temp_directory_path().string());
    if (!d) {
        GTEST_SKIP() << "the temp directory has no block device counters here";
    }
    const std::optional<disk_counters> a = d->read();
    const std::optional<disk_counters> b = d->read();
    ASSERT_TRUE(a && b);
    EXPECT_GE(b->bytes_read, a->bytes_read);
    EXPECT_GE(b->busy_ms, a->busy_ms);
    EXPECT_NE(d->stat_path().find("/sys/dev/block/"), std::string::npos);
}

}  // namespace
}  // namespace sluice
