#include "experts/io/disk_activity.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <fstream>

namespace sluice {

std::optional<disk_counters> parse_block_stat(std::string_view line) {
    // Eleven fields since Linux 2.6, more (discards, flushes) later; every one a decimal count.
    uint64_t field[10] = {};
    size_t   n         = 0;
    size_t   i         = 0;
    while (n < 10) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        if (i == line.size()) {
            return std::nullopt;
        }
        const auto [end, ec] = std::from_chars(line.data() + i, line.data() + line.size(), field[n]);
        if (ec != std::errc{} || (end != line.data() + line.size() && *end != ' ' && *end != '\t' && *end != '\n')) {
            return std::nullopt;
        }
        i = static_cast<size_t>(end - line.data());
        ++n;
    }
    return disk_counters{.bytes_read = field[2] * 512, .busy_ms = field[9]};
}

std::optional<disk_activity> disk_activity::of_file(const std::string & path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || major(st.st_dev) == 0) {  // major 0: no block device (tmpfs, overlay)
        return std::nullopt;
    }
    disk_activity d(fmt::format("/sys/dev/block/{}:{}/stat", major(st.st_dev), minor(st.st_dev)));
    if (!d.read()) {
        return std::nullopt;
    }
    return d;
}

std::optional<disk_counters> disk_activity::read() const {
    std::ifstream in(stat_path_);
    std::string   line;
    if (!in || !std::getline(in, line)) {
        return std::nullopt;
    }
    return parse_block_stat(line);
}

disk_interval disk_interval_of(const disk_counters & before, const disk_counters & after, double wall_ms) {
    disk_interval out;
    if (after.busy_ms < before.busy_ms || after.bytes_read < before.bytes_read || wall_ms <= 0) {
        return out;  // the counters went back (a device reset): nothing to say
    }
    const double busy_ms = static_cast<double>(after.busy_ms - before.busy_ms);
    out.busy             = std::min(1.0, busy_ms / wall_ms);
    out.gb_per_s         = busy_ms > 0 ? static_cast<double>(after.bytes_read - before.bytes_read) / busy_ms / 1e6 : 0;
    return out;
}

}  // namespace sluice
