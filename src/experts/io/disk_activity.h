// What the block device under a file did over an interval, from the kernel's counters
// (/sys/dev/block/MAJ:MIN/stat): the bytes it read and the time it had requests in flight.
// Beside the disk probe's bandwidth it tells an IO-bound run (the disk busy nearly all the
// time) from one whose reads leave the disk idle between them: prediction or overlap
// failing. The counters are the whole device's, every process's reads included.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sluice {

struct disk_counters {
    uint64_t bytes_read = 0;  // sectors read x 512 (the file's unit, whatever the device's)
    uint64_t busy_ms    = 0;  // io_ticks: wall time with at least one request in flight
};

// The counters in one line of a block device's `stat` file (Documentation/block/stat.rst:
// read sectors are the 3rd field, io_ticks the 10th); nullopt when it is not such a line.
std::optional<disk_counters> parse_block_stat(std::string_view line);

class disk_activity {
  public:
    // The device the file lies on, or nullopt where its counters cannot be read (no sysfs,
    // a file system with no block device of its own, such as tmpfs or overlayfs).
    static std::optional<disk_activity> of_file(const std::string & path);

    // The counters now; nullopt if they can no longer be read.
    std::optional<disk_counters> read() const;

    const std::string & stat_path() const { return stat_path_; }

  private:
    explicit disk_activity(std::string stat_path) : stat_path_(std::move(stat_path)) {}
    std::string stat_path_;
};

// Over an interval: the share of its wall time the disk was busy (0 to 1), and what it read
// per second while busy (1e9 bytes/s; 0 when it was never busy).
struct disk_interval {
    double busy     = 0;
    double gb_per_s = 0;
};
disk_interval disk_interval_of(const disk_counters & before, const disk_counters & after, double wall_ms);

}  // namespace sluice
