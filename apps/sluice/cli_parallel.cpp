#include "cli_parallel.h"

#include "experts/calibration.h"
#include "util/error.h"

#include <cstdio>

namespace sluice::cli {

void add_parallel_flags(CLI::App * cmd, parallel_flags & f) {
    const char * g = "Expert parallelism (under mpirun)";
    cmd->add_flag("--expert-parallel", f.enabled,
                  "split the routed experts across the MPI ranks (mpirun -np N sluice ...): each rank computes "
                  "its own experts, attention runs on every rank")
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

std::shared_ptr<mpi_expert_parallel> join_expert_parallel(engine & e, const model_flags & m, const parallel_flags & f) {
    if (!f.enabled) {
        return nullptr;
    }
    if (f.balance != "round-robin" && f.balance != "popularity") {
        fail("--ep-balance must be round-robin or popularity, not '{}'", f.balance);
    }
    if (f.balance == "popularity" && m.calibration.empty()) {
        fail("--ep-balance popularity balances by calibrated popularity: give --calibration FILE (sluice calibrate)");
    }
    auto mpi = std::make_shared<mpi_session>(std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1000.0)));

    std::vector<int> experts_per_layer;
    for (const router & r : e.net().routers()) {
        experts_per_layer.push_back(r.routed() ? r.n_expert : 0);
    }
    expert_partition partition;
    if (f.balance == "popularity") {
        const model_hparams & hp = e.hparams();
        const calibration     cal =
            calibration::load(m.calibration, static_cast<int>(hp.n_layer), static_cast<int>(hp.n_expert), hp.n_embd);
        partition = expert_partition::by_popularity(experts_per_layer, cal.counts, mpi->ranks());
    } else {
        partition = expert_partition::round_robin(experts_per_layer, mpi->ranks());
    }
    // The options as CLI11 writes them back (defaults included): the same command line gives
    // the same text on every rank.
    const std::string options = m.cmd != nullptr ? m.cmd->config_to_str(true, false) : std::string();
    auto ep = std::make_shared<mpi_expert_parallel>(mpi, std::move(partition), identity_of(e.file(), options));
    if (ep->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) {
        fail("rank {}: cannot silence standard output", ep->rank());
    }
    e.set_expert_parallel(ep);
    return ep;
}

}  // namespace sluice::cli
