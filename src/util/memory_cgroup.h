// A memory cgroup made for a measurement: a child process joins it to run under a limit
// (the streaming benchmark's mmap row, the available-memory test). Root only; v1 or v2.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace sluice {

class memory_cgroup {
  public:
    // A new group named `name` under the memory hierarchy's root, limited to `limit` bytes;
    // nullopt when none can be made here (not root, no memory controller).
    static std::optional<memory_cgroup> make(const std::string & name, uint64_t limit);

    ~memory_cgroup();  // removes the group (once its processes have left)
    memory_cgroup(memory_cgroup && o) noexcept;
    memory_cgroup & operator=(memory_cgroup &&)      = delete;
    memory_cgroup(const memory_cgroup &)             = delete;
    memory_cgroup & operator=(const memory_cgroup &) = delete;

    // Moves the calling process into the group.
    void enter() const;

    // Runs `fn` in a forked child inside the group; its result comes back through a pipe.
    // status: the child's wait status (a kill by the limit shows as a signal there), or -1 when
    // no child could be started (pipe or fork failed) or waited for (waitpid failed, other
    // than being interrupted, which is retried).
    struct child_result {
        std::string out;
        int         status = 0;
    };
    child_result run_child(const std::function<std::string()> & fn) const;

  private:
    explicit memory_cgroup(std::string dir) : dir_(std::move(dir)) {}
    std::string dir_;
};

}  // namespace sluice
