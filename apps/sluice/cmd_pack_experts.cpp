// `sluice pack-experts -m M.gguf -o M.packed.gguf`: the routed experts again, in the kernels'
// packed form for this CPU (src/tools/pack_experts.h), for `--packed-experts`: streamed
// experts then compute as fast as experts packed in RAM, and a model in RAM skips packing at load.

#include "cli_common.h"
#include "commands.h"
#include "tools/pack_experts.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

namespace sluice::cli {
namespace {

struct pack_experts_options {
    std::string input, output, isa;
    int         threads = 0;
};

void run(const pack_experts_options & o) {
    const isa         target = choose_isa(parse_isa_flag(o.isa));
    thread_pool       pool(o.threads);
    const pack_report r = pack_experts_file(o.input, o.output, target, pool);
    fmt::print("{}: {} expert tensors packed for {}, {}\n", o.output, r.tensors, isa_name(target),
               human_bytes(r.bytes));
    fmt::print("run with: --packed-experts {} (with the same -m)\n", o.output);
}

}  // namespace

void add_pack_experts_command(CLI::App & app) {
    auto   o   = std::make_shared<pack_experts_options>();
    auto * cmd = app.add_subcommand(
        "pack-experts",
        "write the routed experts again in the kernels' packed form for this CPU, for --packed-experts (the same "
        "results; streamed experts compute faster, and a model in RAM skips packing at load)");
    cmd->add_option("-m,--model", o->input, "GGUF model file (of a split model: the first part)")->required();
    cmd->add_option("-o,--output", o->output, "output file (only the experts; keep the model)")->required();
    cmd->add_option("--isa", o->isa,
                    "pack for this kernel path (default: the best this CPU runs; packed forms exist "
                    "for avx512)");
    cmd->add_option("-t,--threads", o->threads, "threads (default: all)");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
