#include "util/bandwidth.h"

#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace sluice {

double measure_read_bandwidth(thread_pool & pool, size_t bytes, int repeats) {
    const size_t                n = bytes / sizeof(uint64_t);
    std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
    std::memset(buf.get(), 1, n * sizeof(uint64_t));  // fault every page in before timing
    const int             threads = pool.size();
    std::vector<uint64_t> sink(static_cast<size_t>(threads) * 8, 0);  // 64 B apart: no false sharing
    double                best = 0.0;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        pool.parallel_for(threads, [&](int64_t task, int thread) {
            const size_t begin = n * static_cast<size_t>(task) / threads;
            const size_t end   = n * static_cast<size_t>(task + 1) / threads;
            // Eight independent accumulators let the compiler vectorise and keep several
            // loads in flight; XOR keeps the loop from being optimised away.
            uint64_t acc[8] = {};
            size_t   i      = begin;
            for (; i + 8 <= end; i += 8) {
                for (int k = 0; k < 8; ++k) acc[k] ^= buf[i + k];
            }
            for (; i < end; ++i) acc[0] ^= buf[i];
            sink[static_cast<size_t>(thread) * 8] ^=
                acc[0] ^ acc[1] ^ acc[2] ^ acc[3] ^ acc[4] ^ acc[5] ^ acc[6] ^ acc[7];
        });
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best              = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / secs / 1e9);
    }
    volatile uint64_t keep = sink[0];
    (void)keep;
    return best;
}

}  // namespace sluice
