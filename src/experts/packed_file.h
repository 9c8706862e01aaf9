// A file of routed experts packed ahead of time (`sluice pack-experts`): the model's *_exps
// tensors, same names, shapes and types, each expert's matrices rewritten in the kernels'
// packed form for one ISA (kernels.h: groups of 16 rows side by side). Streaming reads them
// straight into its slots in the form the fast kernels want, where it would otherwise compute
// from the file's layout (packing each expert as it arrives costs more than the few uses it
// gets in a cache); in RAM it replaces the packing at load. Same bytes per expert, so the
// cache plans, reads and counts exactly as for the model's own experts, and results are the
// model's bit for bit.
//
// Keys: sluice.packed_experts.isa (the ISA's name), .version (k_packed_format_version) and
// .source_hash (model_header_hash of the model it was made from).
#pragma once

#include "experts/expert_store.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

#include <cstdint>

namespace sluice {

// Writes the keys of a file packed for `target` from a model whose header hashes to source_hash.
void write_packed_file_keys(gguf_writer & w, isa target, uint64_t source_hash);

// Whether `file` is a packed-experts file (has its keys).
bool is_packed_file(const gguf_file & file);

// The experts of `store` as they lie in `packed`, checked: a packed-experts file, for
// `target` and this build's packed forms, made from the model `store` lies in, with every
// expert tensor of the same shape and type. Throws naming what does not match.
expert_store packed_store_of(const expert_store & store, const gguf_file & packed, isa target);

}  // namespace sluice
