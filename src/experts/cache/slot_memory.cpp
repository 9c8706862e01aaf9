#include "experts/cache/slot_memory.h"

#include <fmt/format.h>

namespace sluice {

slot_memory::slot_memory(const cache_plan & plan) : slot_bytes_(plan.slot_bytes) {
    layers_.reserve(plan.slots.size());
    for (size_t l = 0; l < plan.slots.size(); ++l) {
        layers_.emplace_back(static_cast<uint64_t>(plan.slots[l]) * plan.slot_bytes[l],
                             fmt::format("expert cache for layer {}", l), true);
    }
}

}  // namespace sluice
