// `sluice shard -m M --ranks N -o DIR`: one file per rank of an expert-parallel job, each with
// every tensor but the other ranks' routed experts (src/tools/shard.h), for machines without
// shared storage. Rank r then opens its own: `mpirun -np N sluice run -m DIR/STEM.rank{rank}-of-N.gguf
// --expert-parallel ...`.

#include "cli_common.h"
#include "cli_parallel.h"
#include "commands.h"
#include "tools/shard.h"
#include "util/error.h"

#include <fmt/format.h>

#include <filesystem>

namespace sluice::cli {
namespace {

struct shard_options {
    std::string model, out, balance = "round-robin", calibration;
    int         ranks = 0;
};

void run(const shard_options & o) {
    if (o.ranks < 2) {
        fail("shard: --ranks must be at least 2, not {}", o.ranks);
    }
    // The engine partitions the experts as each rank's would (engine_options::split).
    engine_options eo;
    eo.model_path = o.model;
    eo.n_threads  = 1;
    eo.split      = engine_options::expert_split{0, o.ranks, balance_calibration(o.balance, o.calibration)};
    const engine                   e(eo);
    const std::vector<std::string> files =
        write_shards(e.file(), e.partition(), static_cast<int>(e.hparams().n_expert), o.out,
                     [&](int r) { fmt::print(stderr, "shard: writing rank {} of {}\n", r, o.ranks); });
    for (size_t r = 0; r < files.size(); ++r) {
        fmt::print("{}  {} (rank {}: {} of routed experts)\n", files[r], human_bytes(written_bytes({files[r]})), r,
                   human_bytes(e.owned_expert_bytes(static_cast<int>(r))));
    }
    fmt::print("run with: mpirun -np {} sluice run -m {} --expert-parallel ...\n", o.ranks,
               shard_path(o.out, std::filesystem::path(o.model).stem().string(), -1, o.ranks));
}

}  // namespace

void add_shard_command(CLI::App & app) {
    auto   o   = std::make_shared<shard_options>();
    auto * cmd = app.add_subcommand(
        "shard", "write one file per rank of an expert-parallel job (each with only its routed experts)");
    cmd->add_option("-m,--model", o->model, "GGUF model file (of a split model: the first part)")->required();
    cmd->add_option("--ranks", o->ranks, "ranks of the job (mpirun -np)")->required();
    cmd->add_option("-o,--out", o->out, "directory for the files (created if missing)")->required();
    cmd->add_option("--ep-balance", o->balance, "which rank owns which expert: round-robin or popularity")
        ->default_val("round-robin");
    cmd->add_option("--calibration", o->calibration, "calibration file from `sluice calibrate` (for popularity)");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
