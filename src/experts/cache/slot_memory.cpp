#include "experts/cache/slot_memory.h"

#include "util/progress.h"

#include <fmt/format.h>

namespace sluice {

slot_memory::slot_memory(const cache_plan & plan) : slot_bytes_(plan.slot_bytes) {
    // Faulting a budget of several GiB in takes seconds (on a VM, the host backs each page on
    // its first touch): say so on a terminal.
    progress_bar bar("reserving the expert cache", plan.bytes);
    uint64_t     done = 0;
    layers_.reserve(plan.slots.size());
    for (size_t l = 0; l < plan.slots.size(); ++l) {
        const uint64_t bytes = static_cast<uint64_t>(plan.slots[l]) * plan.slot_bytes[l];
        layers_.emplace_back(bytes, fmt::format("expert cache for layer {}", l), true);
        done += bytes;
        bar.update(done);
    }
}

}  // namespace sluice
