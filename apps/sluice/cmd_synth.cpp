// `sluice synth --like qwen3-30b-a3b [--arch qwen3moe] [--layers N] [--type q4_k] -o F`:
// a random-weight model with a real model's geometry, for benchmarks.

#include "cli_common.h"
#include "commands.h"
#include "tools/synth.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

namespace sluice::cli {
namespace {

struct synth_cli {
    synth_options opt;
    std::string   type = "q4_K";
    std::string   output;
    int           threads = 0;
};

void run(synth_cli & o) {
    const auto t = parse_type_name(o.type);
    if (!t) {
        fail("synth: unknown type '{}'", o.type);
    }
    o.opt.type = *t;
    thread_pool    pool(o.threads);
    const uint64_t bytes = write_synthetic_model(o.opt, o.output, pool);
    fmt::print("{}: synthetic {} shaped like {} ({}), {}\n", o.output, find_geometry(o.opt.like).arch, o.opt.like,
               type_name(*t), human_bytes(bytes));
}

}  // namespace

void add_synth_command(CLI::App & app) {
    auto   o   = std::make_shared<synth_cli>();
    auto * cmd = app.add_subcommand("synth", "write a random-weight model with a real model's geometry");
    cmd->add_option("--arch", o->opt.arch, "architecture (default: the geometry's; must match it)");
    cmd->add_option("--like", o->opt.like, fmt::format("geometry: {}", fmt::join(geometry_names(), ", ")))
        ->default_val("qwen3-30b-a3b");
    cmd->add_option("--layers", o->opt.n_layer, "number of layers (default: the real model's)");
    cmd->add_option("--vocab", o->opt.n_vocab, "vocabulary size (default: the real model's)");
    cmd->add_option("--type", o->type, "type of every weight matrix: q4_K, q6_K, q8_0, q4_0, f16")->default_val("q4_K");
    cmd->add_option("--seed", o->opt.seed, "random seed")->default_val(1);
    cmd->add_option("-t,--threads", o->threads, "threads (default: all)");
    cmd->add_option("-o,--output", o->output, "output GGUF file")->required();
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
