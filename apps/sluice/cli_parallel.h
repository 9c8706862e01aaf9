// --expert-parallel: the flags of the commands that run under mpirun with the experts split
// across the ranks (run, logits, perplexity, bench), and joining the ranks once the engine
// is loaded.
#pragma once

#include "cli_common.h"
#include "parallel/mpi_expert_parallel.h"

#include <memory>
#include <string>

namespace sluice::cli {

struct parallel_flags {
    bool        enabled   = false;
    std::string balance   = "round-robin";
    double      timeout_s = 60.0;
};

// --expert-parallel, --ep-balance, --ep-timeout.
void add_parallel_flags(CLI::App * cmd, parallel_flags & f);

// With --expert-parallel: starts MPI, splits the experts of every MoE layer across the ranks
// (--ep-balance; popularity reads m.calibration), checks that every rank opened the same
// model with the same options, and makes `e` compute only this rank's experts. Ranks other
// than 0 drop their standard output: the program's output is rank 0's. nullptr without
// the flag.
std::shared_ptr<mpi_expert_parallel> join_expert_parallel(engine & e, const model_flags & m, const parallel_flags & f);

}  // namespace sluice::cli
