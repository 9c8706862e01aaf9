#include "util/memory_stats.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace sluice {
namespace {

uint64_t status_kib(const char * field) {
    std::FILE * f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) {
        return 0;
    }
    char          line[256];
    unsigned long kib = 0;
    const size_t  len = std::strlen(field);
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
            std::sscanf(line + len + 1, "%lu", &kib);
            break;
        }
    }
    std::fclose(f);
    return static_cast<uint64_t>(kib) * 1024;
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

// `key value` lines of a cgroup's memory.stat.
uint64_t stat_value(const std::string & path, const std::string & key) {
    std::ifstream in(path);
    std::string   k;
    uint64_t      v = 0;
    while (in >> k >> v) {
        if (k == key) {
            return v;
        }
    }
    return 0;
}

// Limit less usage (inactive file pages counted free) of cgroup directory `dir` and of every
// directory above it up to `root`.
uint64_t cgroup_headroom(const std::string & root, std::string path, bool v2, uint64_t most) {
    const char * limit_file = v2 ? "/memory.max" : "/memory.limit_in_bytes";
    const char * usage_file = v2 ? "/memory.current" : "/memory.usage_in_bytes";
    const char * inactive   = v2 ? "inactive_file" : "total_inactive_file";
    while (true) {
        const std::string             dir   = root + (path == "/" ? "" : path);
        const std::optional<uint64_t> limit = read_number(dir + limit_file);
        const std::optional<uint64_t> usage = read_number(dir + usage_file);
        if (limit && usage) {
            const uint64_t reclaimable = stat_value(dir + "/memory.stat", inactive);
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
    {
        std::ifstream in("/proc/meminfo");
        std::string   key;
        uint64_t      kib = 0;
        while (in >> key >> kib) {
            if (key == "MemAvailable:") {
                most = kib * 1024;
                break;
            }
            in.ignore(256, '\n');
        }
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
