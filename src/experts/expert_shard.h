// Shard files (`sluice shard`): one GGUF file per rank of an expert-parallel job, for machines
// without shared storage. A shard holds every tensor of the model except the routed experts
// of other ranks: its stacked expert tensors ([d, ff, n_owned] and [ff, d, n_owned]) hold
// only its own experts, in increasing id order, and its metadata says which:
//   sluice.shard.rank, sluice.shard.ranks (u32), sluice.shard.scheme (string),
//   sluice.shard.n_expert (u32) and sluice.shard.owners (i32, layer-major, n_expert per layer:
//   the rank that owns each expert, -1 in dense blocks) - every shard holds the whole table,
//   so every rank knows the same partition;
//   sluice.shard.source_bytes, sluice.shard.source_hash (u64): the model it was cut from, what
//   the ranks compare at start-up instead of their own (different) files.
// Everything else (routers and their biases, expert biases, expert_count) is the model's.
#pragma once

#include "experts/expert_parallel.h"
#include "gguf/gguf.h"

#include <cstdint>
#include <optional>

namespace sluice {

struct expert_shard {
    int              rank = 0;
    expert_partition partition;  // of every rank
    uint64_t         source_bytes = 0;
    uint64_t         source_hash  = 0;
};

// The shard keys of `file`, or nullopt when it is a whole model. Throws naming the file and
// key when they are present but inconsistent.
std::optional<expert_shard> read_expert_shard(const gguf_file & file);

// Writes the shard keys for `rank` of `partition` (n_expert: the model's experts per layer).
void write_expert_shard_keys(gguf_writer & w, int rank, const expert_partition & partition, int n_expert,
                             uint64_t source_bytes, uint64_t source_hash);

// What ranks compare to know they opened the same model: a fingerprint (FNV-1a) of every
// part's header (metadata and tensor infos), and the bytes of every part.
uint64_t model_header_hash(const gguf_file & file);

}  // namespace sluice
