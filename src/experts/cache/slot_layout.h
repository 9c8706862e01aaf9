// How one expert lies in cache memory when it is read from the file with O_DIRECT: gate, up
// and down back to back, each in a span of whole 4 KiB blocks (the slab rounded to blocks,
// plus one block because a slab need not start on a block boundary), so each read lands in
// its span directly and the matrix starts `file_offset % 4096` bytes into it.
#pragma once

#include "experts/expert_store.h"
#include "experts/io/loader.h"

#include <array>
#include <cstddef>
#include <cstdint>

namespace sluice {

struct slot_layout {
    uint64_t gate_span = 0;  // bytes, multiples of direct_io_alignment
    uint64_t up_span   = 0;
    uint64_t down_span = 0;

    uint64_t bytes() const { return gate_span + up_span + down_span; }
};

// The layout of an expert of `layer` (all zero for a dense block).
slot_layout layout_of(const expert_store & store, int layer);

// The three reads that bring expert `expert` of `layer` into `dest` (aligned, layout bytes).
std::array<read_request, 3> slot_reads(const expert_store & store, int layer, int32_t expert, std::byte * dest);

// The matrices of expert `expert` of `layer` in memory filled by slot_reads(); `packed`: the
// store's bytes are in the kernels' packed form (a file from `sluice pack-experts`).
expert_matrices slot_view(const expert_store & store, int layer, int32_t expert, const std::byte * base,
                          bool packed = false);

}  // namespace sluice
