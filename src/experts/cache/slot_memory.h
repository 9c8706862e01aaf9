// The expert cache's memory: one page_block per layer holding that layer's slots back to
// back, faulted in at start (huge pages where the system gives them; returned to the
// system at once when unmapped).
#pragma once

#include "experts/cache/cache_plan.h"
#include "experts/page_block.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

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
