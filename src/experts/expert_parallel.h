// Expert parallelism: several processes (MPI ranks, on one machine or many) run the same
// model; each computes only the routed experts it owns, and the partial sums of all of them
// are combined after every MoE layer. Everything else (attention, norms, routers, shared
// experts) runs on every process, so every process holds the same hidden states.
//
// The forward pass sees only `expert_parallel`; how the processes talk (MPI) lives in
// src/parallel. `expert_partition` says which process owns which expert.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice {

// Which rank owns each routed expert of each layer. Every rank must hold the same partition
// (the MPI layer checks its fingerprint at start-up), else experts would be summed twice or
// not at all.
class expert_partition {
  public:
    expert_partition() = default;

    // Expert e of every layer goes to rank e mod ranks. experts_per_layer: [layer] -> count
    // (0 for dense blocks).
    static expert_partition round_robin(std::span<const int> experts_per_layer, int ranks);

    // Per layer, experts by popularity (counts[layer][expert]: how many calibration tokens chose
    // it), each to the rank with the least popularity so far (longest-processing-time first),
    // so ranks do equal expected work; ties to the lower rank. Layers without counts fall back
    // to round robin.
    static expert_partition by_popularity(std::span<const int>                     experts_per_layer,
                                          const std::vector<std::vector<double>> & counts, int ranks);

    // A table read back (a shard file's): owner[layer][expert] -> rank, empty rows for dense
    // blocks. Throws when an owner is outside [0, ranks).
    static expert_partition from_owners(std::vector<std::vector<int>> owner, int ranks, std::string scheme);

    int  ranks() const { return ranks_; }
    int  n_layer() const { return static_cast<int>(owner_.size()); }
    int  owner(int layer, int32_t expert) const { return owner_[layer][expert]; }
    bool empty() const { return owner_.empty(); }
    // Experts of `layer` that `rank` owns, ascending.
    std::vector<int32_t> owned(int layer, int rank) const;
    // A 64-bit fingerprint of the whole table (FNV-1a), for the ranks to compare.
    uint64_t fingerprint() const;
    // "round-robin" or "popularity".
    const std::string &                   scheme() const { return scheme_; }
    const std::vector<std::vector<int>> & owners() const { return owner_; }

  private:
    int                           ranks_ = 1;
    std::string                   scheme_;
    std::vector<std::vector<int>> owner_;  // [layer][expert] -> rank
};

class expert_parallel {
  public:
    virtual ~expert_parallel() = default;

    virtual int rank() const  = 0;
    virtual int ranks() const = 0;

    // Whether this process computes expert `expert` of `layer`.
    virtual bool owns(int layer, int32_t expert) const = 0;

    // sums: this process's partial sums of its experts' weighted outputs (a MoE block's rows x
    // n_embd, in double); on return, the sums over all processes, added in rank order
    // (0 + 1 + ...), so every process holds the same bits. Throws when a peer does not answer
    // in time.
    virtual void combine(std::span<double> sums) = 0;

    // Every process samples; rank 0's choice is the one every process continues with
    // (processes whose sampler was seeded differently still agree). Returns rank 0's token.
    virtual int32_t token_of_first_rank(int32_t token) = 0;

    // Throws naming the rank when this process was given other tokens than rank 0 (another
    // prompt file, another text): their hidden states would differ and the sums be garbage.
    virtual void check_same_tokens(std::span<const int32_t> tokens) = 0;
};

}  // namespace sluice
