#include "kernels/thread_scratch.h"

#include "util/error.h"

namespace sluice {

uint8_t * thread_scratch::get(uint64_t bytes) {
    constexpr uint64_t region = uint64_t{2} << 20;  // separate 2 MiB regions per thread
    if (bytes > size_) {
        const uint64_t size = (bytes + region - 1) / region * region;
        block_.reset(static_cast<uint8_t *>(std::aligned_alloc(region, size)));
        if (!block_) {
            fail("matmul: cannot allocate {} bytes of per-thread scratch", size);
        }
        size_ = size;
    }
    return block_.get();
}

}  // namespace sluice
