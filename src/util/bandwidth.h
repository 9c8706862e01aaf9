// A memory-bandwidth probe: the denominator of every "% of bandwidth" sluice prints is
// measured on the machine that produced the numerator, in the same run.
#pragma once

#include <cstddef>

namespace sluice {
class thread_pool;

// Read bandwidth in GB/s (1e9 bytes/s) for streaming over `bytes` (far larger than the L3
// cache) with the pool's threads, best of `repeats` passes.
double measure_read_bandwidth(thread_pool & pool, size_t bytes, int repeats = 5);
}  // namespace sluice
