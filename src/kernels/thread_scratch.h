// One pool thread's working memory for matmul_many's tasks: dot_tile's decoded rows and
// laid-out tokens, and the task's output tile. Each thread's block is its own allocation,
// 2 MiB-aligned and a whole number of 2 MiB: with the threads' slices side by side in one
// vector, or with tasks writing their tiles straight into a shared output, the second thread
// of a 2-thread pool ran each GEMM task ~1.8x slower than the first on this machine (AMD
// EPYC, 2 vCPUs: Q4_K 768x2048 x 64 tokens, 300 -> 430 GFLOP/s on 2 threads; placement, not
// arithmetic). Pages are touched only by the thread that uses them.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace sluice {

class thread_scratch {
  public:
    // At least `bytes` bytes, 64-byte aligned; the contents are unspecified after growth.
    uint8_t * get(uint64_t bytes);

  private:
    struct release {
        void operator()(uint8_t * p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t, release> block_;
    uint64_t                          size_ = 0;
};

}  // namespace sluice
