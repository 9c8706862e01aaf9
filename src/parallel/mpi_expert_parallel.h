// expert_parallel over MPI: each rank computes the experts the partition gives it, and the
// partial sums of a MoE block (in double) are exchanged with one allgather and added in rank
// order on every rank (a fixed order, so every rank holds bit-identical hidden states; an MPI
// reduction may add in a different order on different ranks). Per token and MoE layer that
// is n_embd doubles from each rank: small messages, so latency, not bandwidth, sets the cost.
#pragma once

#include "experts/expert_parallel.h"
#include "gguf/gguf.h"
#include "parallel/mpi_session.h"

#include <memory>
#include <string_view>
#include <vector>

namespace sluice {

// What every rank must agree on before the first token: the model (its size and a hash of
// every part's metadata and tensor table), the options it was started with, the partition.
struct ep_identity {
    uint64_t model_bytes  = 0;
    uint64_t model_hash   = 0;
    uint64_t options_hash = 0;
};
// `options`: the command's options as text (the same command line gives the same text).
ep_identity identity_of(const gguf_file & file, std::string_view options);

// Where a rank's time went, since construction or reset_counters().
struct ep_counters {
    uint64_t combines          = 0;    // MoE blocks combined
    uint64_t values_sent       = 0;    // doubles this rank contributed (its partial sums)
    double   combine_seconds   = 0.0;  // waiting for and adding the peers' sums
    double   broadcast_seconds = 0.0;  // agreeing on tokens and samples
};

class mpi_expert_parallel final : public expert_parallel {
  public:
    // Compares `id` and the partition's fingerprint across the ranks; throws naming the first
    // rank that differs from rank 0 and in what (every rank throws the same error).
    mpi_expert_parallel(std::shared_ptr<mpi_session> mpi, expert_partition partition, const ep_identity & id);

    int     rank() const override { return mpi_->rank(); }
    int     ranks() const override { return mpi_->ranks(); }
    bool    owns(int layer, int32_t expert) const override { return partition_.owner(layer, expert) == mpi_->rank(); }
    void    combine(std::span<double> sums) override;
    int32_t token_of_first_rank(int32_t token) override;
    void    check_same_tokens(std::span<const int32_t> tokens) override;

    const expert_partition & partition() const { return partition_; }
    const ep_counters &      counters() const { return counters_; }
    void                     reset_counters() { counters_ = {}; }
    // Every rank's value, in rank order, on every rank.
    std::vector<double> all_ranks(double value);
    // Rank 0 sends `msg` to every rank; the others receive it into `msg`, waiting as long as
    // it takes (the ranks of a server wait for its next step between requests).
    void broadcast_message(std::vector<int32_t> & msg);

  private:
    std::shared_ptr<mpi_session> mpi_;
    expert_partition             partition_;
    ep_counters                  counters_;
    std::vector<double>          gathered_;  // [ranks][sums], reused between blocks
};

}  // namespace sluice
