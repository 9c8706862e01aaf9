// --cache-type: cached experts held re-quantized to another type, so more fit in the budget.
// A slot then holds the converted matrices (gate, up, down back to back), so a read cannot
// land in it: it lands in a staging buffer in the file's layout (slot_layout.h) and is
// converted into the slot row by row through F32 when it is waited for. The buffers (enough
// for a layer's demand and a layer's guesses in flight) are paid from the budget.
#pragma once

#include "experts/expert_store.h"
#include "experts/page_block.h"
#include "tensor/types.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace sluice {

class requant_staging {
  public:
    // Checks that sluice can write `type`, that expert rows are whole blocks of it and that
    // `budget` (bytes) leaves room beyond `n_buffers` buffers of the largest expert in the
    // file's layout. Throws saying which check failed. The buffers come with allocate().
    requant_staging(ggml_type type, const expert_store & store, int n_buffers, uint64_t budget);

    // Allocates the buffers and faults them in (once the caller has checked the memory is there).
    void allocate();

    ggml_type type() const { return type_; }
    uint64_t  bytes() const { return size_; }  // all the buffers
    // One expert's bytes re-quantized: what a slot of any MoE layer holds.
    uint64_t slot_bytes() const { return slot_bytes_; }

    // A buffer for the read of the slot's expert, or nullptr when every buffer is in use.
    std::byte * take(int layer, int slot);
    // The oldest load still holding a buffer, as (layer, slot); nullopt when none does.
    std::optional<std::pair<int, int>> oldest() const;
    // Converts the slot's staged expert (read as slot_reads() lays it out) into `dest`.
    void convert(int layer, int slot, int32_t expert, std::byte * dest) const;
    // Gives the slot's buffer back, if it holds one.
    void release(int layer, int slot);

    // The converted matrices in a slot.
    expert_matrices view(const std::byte * slot) const;

  private:
    struct staged {
        int layer, slot, buffer;
    };

    const expert_store & store_;
    ggml_type            type_;
    uint64_t             slot_bytes_ = 0;
    uint64_t             span_       = 0;  // one buffer: the largest expert in the file's layout
    uint64_t             size_       = 0;  // all buffers
    page_block           memory_;
    std::vector<int>     free_;
    std::deque<staged>   staged_;  // loads holding a buffer, oldest first
};

}  // namespace sluice
