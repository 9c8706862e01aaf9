#include "util/memory_cgroup.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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

memory_cgroup::child_result memory_cgroup::run_child(const std::function<std::string()> & fn) const {
    child_result r;
    int          fds[2];
    if (::pipe(fds) != 0) {
        r.status = -1;
        return r;
    }
    const pid_t child = ::fork();
    if (child < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        r.status = -1;
        return r;
    }
    if (child == 0) {
        ::close(fds[0]);
        enter();
        std::string out;
        try {
            out = fn();
        } catch (...) {
            out = "an exception escaped";
        }
        for (size_t at = 0; at < out.size();) {
            const ssize_t n = ::write(fds[1], out.data() + at, out.size() - at);
            if (n <= 0) {
                break;
            }
            at += static_cast<size_t>(n);
        }
        ::_exit(0);  // no destructors, no exit handlers: they belong to the parent
    }
    ::close(fds[1]);
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
        r.out.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    pid_t waited = -1;
    do {
        waited = ::waitpid(child, &r.status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited != child) {
        r.status = -1;
    }
    return r;
}

}  // namespace sluice
