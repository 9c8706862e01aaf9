#include "experts/cache/slot_memory.h"

#include "util/error.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <utility>

namespace sluice {

page_block::page_block(uint64_t bytes, const std::string & what) : size_(bytes) {
    if (bytes == 0) {
        return;
    }
    void * p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fail("cannot allocate {} bytes of {}", bytes, what);
    }
    base_ = static_cast<std::byte *>(p);
}

page_block::~page_block() {
    if (base_ != nullptr) {
        ::munmap(base_, size_);
    }
}

page_block::page_block(page_block && o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}

page_block & page_block::operator=(page_block && o) noexcept {
    if (this != &o) {
        if (base_ != nullptr) {
            ::munmap(base_, size_);
        }
        base_ = std::exchange(o.base_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

slot_memory::slot_memory(const cache_plan & plan) : slot_bytes_(plan.slot_bytes) {
    layers_.reserve(plan.slots.size());
    for (size_t l = 0; l < plan.slots.size(); ++l) {
        layers_.emplace_back(static_cast<uint64_t>(plan.slots[l]) * plan.slot_bytes[l],
                             fmt::format("expert cache for layer {}", l));
    }
}

}  // namespace sluice
