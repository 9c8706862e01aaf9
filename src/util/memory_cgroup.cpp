#include "util/memory_cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <utility>

namespace sluice {

std::optional<memory_cgroup> memory_cgroup::make(const std::string & name, uint64_t limit) {
    // v1's memory hierarchy, else v2's unified one.
    for (const auto & [root, limit_file] :
         {std::pair{"/sys/fs/cgroup/memory/", "/memory.limit_in_bytes"}, std::pair{"/sys/fs/cgroup/", "/memory.max"}}) {
        const std::string dir = root + name;
        if (::mkdir(dir.c_str(), 0755) == 0) {
            std::ofstream(dir + limit_file) << limit;
            return memory_cgroup(dir);
        }
    }
    return std::nullopt;
}

memory_cgroup::~memory_cgroup() {
    if (!dir_.empty()) {
        ::rmdir(dir_.c_str());
    }
}

memory_cgroup::memory_cgroup(memory_cgroup && o) noexcept : dir_(std::exchange(o.dir_, std::string())) {}

void memory_cgroup::enter() const {
    std::ofstream(dir_ + "/cgroup.procs") << ::getpid();
}

}  // namespace sluice
