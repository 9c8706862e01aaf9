// --expert-parallel: the flags of the commands that run under mpirun with the experts split
// across the ranks (run, logits, perplexity, bench), and the engine of such a command.
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

// What engine_options::expert_split::calibration takes for --ep-balance: the calibration file
// for popularity, "" for round robin. Throws for another scheme, or popularity without a file.
std::string balance_calibration(const std::string & balance, const std::string & calibration);

// --expert-parallel, --ep-balance, --ep-timeout.
void add_parallel_flags(CLI::App * cmd, parallel_flags & f);

// The engine of a command that may run under --expert-parallel. With the flag: MPI starts
// first, the engine splits the experts of every MoE layer across the ranks (--ep-balance;
// popularity reads --calibration) so its expert cache plans for this rank's share, the ranks
// check that they opened the same model with the same options, and the engine computes only
// this rank's experts. Ranks other than 0 drop their standard output: the program's output
// is rank 0's. Without the flag: a plain engine, `ep` null.
struct ranked_engine {
    ranked_engine(const model_flags & m, const parallel_flags & f);

    std::shared_ptr<mpi_session>         mpi;  // first: MPI starts before the engine
    engine                               e;
    std::shared_ptr<mpi_expert_parallel> ep;
};

}  // namespace sluice::cli
