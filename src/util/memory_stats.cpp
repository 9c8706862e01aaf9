#include "util/memory_stats.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace sluice {
namespace {

// The number after `key` on the first line of `path` whose first field is `key`: "VmHWM: 123 kB" in
// /proc/self/status, "MemAvailable: 123 kB" in /proc/meminfo (keys with their colon, values in
// KiB), "inactive_file 123" in a cgroup's memory.stat (bytes). nullopt when absent.
std::optional<uint64_t> field_value(const std::string & path, const std::string & key) {
    std::ifstream in(path);
    std::string   line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string        k;
        uint64_t           v = 0;
        if (fields >> k >> v && k == key) {
            return v;
        }
    }
    return std::nullopt;
}

uint64_t status_kib(const std::string & field) {
    return field_value("/proc/self/status", field + ":").value_or(0) * 1024;
}

// A file holding one number; nullopt when absent or not a number ("max": no limit).
std::optional<uint64_t> read_number(const std::string & path) {
    std::ifstream in(path);
    uint64_t      v = 0;
    if (!(in >> v)) {
        return std::nullopt;
    }
    return v;
}

// Limit less usage (inactive file pages counted free) of the cgroup at `path` under `root`, and
// of every group above it, folded into `most` by min.
uint64_t cgroup_headroom(const std::string & root, std::string path, bool v2, uint64_t most) {
    const char * limit_file = v2 ? "/memory.max" : "/memory.limit_in_bytes";
    const char * usage_file = v2 ? "/memory.current" : "/memory.usage_in_bytes";
    const char * inactive   = v2 ? "inactive_file" : "total_inactive_file";
    while (true) {
        const std::string             dir   = root + (path == "/" ? "" : path);
        const std::optional<uint64_t> limit = read_number(dir + limit_file);
        const std::optional<uint64_t> usage = read_number(dir + usage_file);
        if (limit && usage) {
            const uint64_t reclaimable = field_value(dir + "/memory.stat", inactive).value_or(0);
            const uint64_t used        = *usage > reclaimable ? *usage - reclaimable : 0;
            most                       = std::min(most, *limit > used ? *limit - used : 0);
        }
        if (path.empty() || path == "/") {
            return most;
        }
        const size_t slash = path.find_last_of('/');
        path               = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
}

}  // namespace

uint64_t available_memory_bytes() {
    uint64_t most = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    if (const std::optional<uint64_t> kib = field_value("/proc/meminfo", "MemAvailable:")) {
        most = *kib * 1024;
    }
    // /proc/self/cgroup: "ID:CONTROLLERS:PATH" per hierarchy; v2's line is "0::PATH".
    std::ifstream in("/proc/self/cgroup");
    std::string   line;
    while (std::getline(in, line)) {
        const size_t a = line.find(':');
        const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) {
            continue;
        }
        const std::string controllers = line.substr(a + 1, b - a - 1);
        const std::string path        = line.substr(b + 1);
        if (controllers.empty()) {
            // v2: mounted at /sys/fs/cgroup, or at /sys/fs/cgroup/unified beside v1.
            for (const char * root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
                most = cgroup_headroom(root, path, true, most);
            }
        } else {
            std::stringstream list(controllers);
            std::string       c;
            while (std::getline(list, c, ',')) {
                if (c == "memory") {
                    most = cgroup_headroom("/sys/fs/cgroup/memory", path, false, most);
                }
            }
        }
    }
    return most;
}

uint64_t peak_rss_bytes() {
    return status_kib("VmHWM");
}
uint64_t current_rss_bytes() {
    return status_kib("VmRSS");
}

}  // namespace sluice
