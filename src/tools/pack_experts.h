// `sluice pack-experts`: writes a model's routed experts again in the kernels' packed form for
// one ISA (the format: experts/packed_file.h), for --packed-experts. Only the experts are
// written; the model stays as it is and is still needed.
#pragma once

#include "kernels/kernels.h"

#include <cstdint>
#include <string>

namespace sluice {

class thread_pool;

struct pack_report {
    int      tensors = 0;  // stacked expert tensors written
    uint64_t bytes   = 0;  // their bytes (the same as in the model)
};

// Reads `input` (a whole model, or the first part of a split one), writes `output` with its
// *_exps tensors packed for `target`, one tensor in memory at a time, experts packed in
// parallel on `pool`, with a progress bar on a terminal. Throws naming the tensor when a type
// has no packed form on `target` or its rows are not whole groups of 16, and for a model
// without routed experts or an expert-parallel shard.
pack_report pack_experts_file(const std::string & input, const std::string & output, isa target, thread_pool & pool);

}  // namespace sluice
