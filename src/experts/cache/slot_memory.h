// The expert cache's memory: anonymous pages (page-aligned, so O_DIRECT reads can land in
// them; zero until touched; returned to the system at once when unmapped), one block per
// layer holding that layer's slots back to back.
#pragma once

#include "experts/cache/cache_plan.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

// One anonymous mapping of `bytes` (none for 0). Throws naming `what` when it cannot be had.
class page_block {
  public:
    page_block() = default;
    page_block(uint64_t bytes, const std::string & what);
    ~page_block();
    page_block(page_block && o) noexcept;
    page_block & operator=(page_block && o) noexcept;
    page_block(const page_block &)             = delete;
    page_block & operator=(const page_block &) = delete;

    std::byte * data() const { return base_; }
    uint64_t    size() const { return size_; }

  private:
    std::byte * base_ = nullptr;
    uint64_t    size_ = 0;
};

class slot_memory {
  public:
    slot_memory() = default;
    // plan.slots[l] slots of plan.slot_bytes[l] bytes for every layer; throws when the
    // memory cannot be had.
    explicit slot_memory(const cache_plan & plan);

    // Slot s of `layer`: plan.slot_bytes[layer] bytes.
    std::byte * slot(int layer, int s) const {
        return layers_[layer].data() + static_cast<uint64_t>(s) * slot_bytes_[layer];
    }

  private:
    std::vector<page_block> layers_;
    std::vector<uint64_t>   slot_bytes_;
};

}  // namespace sluice
