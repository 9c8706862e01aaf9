// Process memory figures from /proc/self/status (Linux); 0 where unavailable.
#pragma once

#include <cstdint>

namespace sluice {

uint64_t peak_rss_bytes();     // VmHWM: the high-water mark of resident memory
uint64_t current_rss_bytes();  // VmRSS

}  // namespace sluice
