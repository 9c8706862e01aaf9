// `sluice shard`: one GGUF file per rank of an expert-parallel job, for machines without
// shared storage (the format: experts/expert_shard.h). Each holds every tensor of the model
// except the other ranks' routed experts; rank r opens its own with `-m` and `{rank}` in the
// path, so every rank runs the same command line.
#pragma once

#include "experts/expert_parallel.h"
#include "gguf/gguf.h"

#include <functional>
#include <string>
#include <vector>

namespace sluice {

// DIR/STEM.rank{R}-of-{N}.gguf; with rank < 0 the pattern `-m` takes: DIR/STEM.rank{rank}-of-{N}.gguf.
std::string shard_path(const std::string & dir, const std::string & stem, int rank, int ranks);

// Writes the shards of `in` for `partition` (one per rank, built from the model's routers)
// into `dir`, tensor by tensor (one stacked tensor in memory at a time); n_expert: the model's
// experts per layer. on_rank(r) is called before rank r's file. Returns the files written.
// Throws for a file that is a shard already or has no routed experts.
std::vector<std::string> write_shards(const gguf_file & in, const expert_partition & partition, int n_expert,
                                      const std::string & dir, const std::function<void(int)> & on_rank = nullptr);

}  // namespace sluice
