// Process memory figures from /proc/self/status, and the memory this process may still take
// (Linux); 0 where unavailable.
#pragma once

#include <cstdint>

namespace sluice {

uint64_t peak_rss_bytes();     // VmHWM: the high-water mark of resident memory
uint64_t current_rss_bytes();  // VmRSS

// What this process may allocate before the kernel must kill or swap: MemAvailable (free
// memory plus reclaimable page cache), lowered by every memory cgroup the process sits in
// (v1 or v2, the process's own group and each above it) to that group's limit less its
// usage, counting its inactive file pages as reclaimable. A container's limit is invisible
// to /proc/meminfo, so a plan sized by MemAvailable alone gets killed there. All of physical
// memory where /proc/meminfo cannot be read.
uint64_t available_memory_bytes();

}  // namespace sluice
