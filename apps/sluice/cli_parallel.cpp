#include "cli_parallel.h"

#include "util/error.h"

#include <cstdio>

namespace sluice::cli {

namespace {

std::shared_ptr<mpi_session> start(const model_flags & m, const parallel_flags & f) {
    if (!f.enabled) {
        return nullptr;
    }
    balance_calibration(f.balance, m.calibration);  // checked before MPI starts
    return std::make_shared<mpi_session>(std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1000.0)));
}

engine_options options(const model_flags & m, const parallel_flags & f, const mpi_session * mpi) {
    engine_options o = make_engine_options(m);
    // Shards (`sluice shard`): `{rank}` in the path is this rank's number, so that every rank
    // runs the same command line.
    if (const size_t at = o.model_path.find("{rank}"); at != std::string::npos) {
        if (mpi == nullptr) {
            fail("-m {}: '{{rank}}' in the path names each rank's shard; it needs --expert-parallel", m.model);
        }
        o.model_path.replace(at, 6, std::to_string(mpi->rank()));
    }
    if (mpi != nullptr) {
        o.split =
            engine_options::expert_split{mpi->rank(), mpi->ranks(), balance_calibration(f.balance, m.calibration)};
    }
    return o;
}

std::shared_ptr<mpi_expert_parallel> join(engine & e, const std::shared_ptr<mpi_session> & mpi, const model_flags & m) {
    if (!mpi) {
        return nullptr;
    }
    // The options as CLI11 writes them back (defaults included): the same command line gives
    // the same text on every rank.
    const std::string options = m.cmd != nullptr ? m.cmd->config_to_str(true, false) : std::string();
    auto              ep = std::make_shared<mpi_expert_parallel>(mpi, e.partition(), identity_of(e.file(), options));
    if (ep->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) {
        fail("cannot silence standard output");
    }
    e.set_expert_parallel(ep);
    return ep;
}

}  // namespace

std::string balance_calibration(const std::string & balance, const std::string & calibration) {
    if (balance != "round-robin" && balance != "popularity") {
        fail("--ep-balance must be round-robin or popularity, not '{}'", balance);
    }
    if (balance == "popularity" && calibration.empty()) {
        fail("--ep-balance popularity balances by calibrated popularity: give --calibration FILE (sluice calibrate)");
    }
    return balance == "popularity" ? calibration : std::string();
}

void add_parallel_flags(CLI::App * cmd, parallel_flags & f) {
    const char * g = "Expert parallelism (under mpirun)";
    cmd->add_flag("--expert-parallel", f.enabled,
                  "split the routed experts across the MPI ranks (mpirun -np N sluice ...): each rank computes "
                  "its own experts, attention runs on every rank; --expert-budget is then per rank")
        ->group(g);
    cmd->add_option("--ep-balance", f.balance,
                    "which rank owns which expert: round-robin, or popularity (equal routed work per rank; needs "
                    "--calibration)")
        ->default_val("round-robin")
        ->group(g);
    cmd->add_option("--ep-timeout", f.timeout_s,
                    "seconds a rank waits for the others at any exchange before it ends the job with an error")
        ->default_val(60.0)
        ->check(CLI::PositiveNumber)
        ->group(g);
}

ranked_engine::ranked_engine(const model_flags & m, const parallel_flags & f)
    : mpi(start(m, f)), e(options(m, f, mpi.get())), ep(join(e, mpi, m)) {}

}  // namespace sluice::cli
