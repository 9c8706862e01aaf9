// `sluice synth --like qwen3-30b-a3b [--arch qwen3moe] [--layers N] [--type q4_k] -o F`:
// a random-weight model with a real model's geometry, for benchmarks.
// `sluice synth --from SMALL.gguf --d 2048 --ff 768 [--type q4_K] -o F`: a trained model
// zero-padded to a real expert size, computing the same function (tools/pad_model.h).

#include "cli_common.h"
#include "commands.h"
#include "tensor/quantize.h"
#include "tools/pad_model.h"
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
    std::string   from;  // --from: pad this model instead of drawing random weights
    pad_options   pad;
    bool          type_given = false;
};

void run_from(synth_cli & o) {
    if (o.type_given) {
        const auto t = parse_type_name(o.type);
        if (!t) {
            fail("synth: unknown type '{}'", o.type);
        }
        o.pad.type = *t;
    }
    thread_pool      pool(o.threads);
    const pad_report r = write_padded_model(o.from, o.pad, o.output, pool);
    fmt::print("{}: {} padded from d {}, ff {} to d {}, ff {}{}, {}\n", o.output, o.from, r.d_from, r.ff_from, r.d_to,
               r.ff_to, o.pad.type ? fmt::format(" ({})", type_name(*o.pad.type)) : std::string(),
               human_bytes(r.bytes));
}

void run(synth_cli & o) {
    if (!o.from.empty()) {
        run_from(o);
        return;
    }
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
    auto * cmd = app.add_subcommand(
        "synth", "write a random-weight model with a real model's geometry, or pad a trained one to a real size");
    auto * arch = cmd->add_option("--arch", o->opt.arch, "architecture (default: the geometry's; must match it)");
    auto * like = cmd->add_option("--like", o->opt.like, fmt::format("geometry: {}", fmt::join(geometry_names(), ", ")))
                      ->default_val("qwen3-30b-a3b");
    auto * layers = cmd->add_option("--layers", o->opt.n_layer, "number of layers (default: the real model's)");
    auto * vocab  = cmd->add_option("--vocab", o->opt.n_vocab, "vocabulary size (default: the real model's)");
    cmd->add_option("--type", o->type,
                    fmt::format("type of every weight matrix: {} (with --from: default each tensor's own)",
                                quantizable_type_names()))
        ->default_val("q4_K");
    auto * seed = cmd->add_option("--seed", o->opt.seed, "random seed")->default_val(1);
    auto * from = cmd->add_option("--from", o->from,
                                  "pad this trained model with zeros to --d and --ff instead: the same function "
                                  "(logits and routing) at a real model's expert size")
                      ->check(CLI::ExistingFile);
    auto * d  = cmd->add_option("--d", o->pad.n_embd, "with --from: the padded embedding width (default: the model's)");
    auto * ff = cmd->add_option("--ff", o->pad.n_ff_expert,
                                "with --from: the padded routed-expert width (default: the model's)");
    d->needs(from);
    ff->needs(from);
    auto * tok =
        cmd->add_option("--tokenizer-from", o->opt.tokenizer_from,
                        "give the model this GGUF's tokenizer (e.g. models/trained-qwen3moe-q8_0.gguf), padded with "
                        "unused tokens to --vocab, so tools that need one (llama.cpp's) load the file")
            ->check(CLI::ExistingFile);
    for (CLI::Option * random_only : {arch, like, layers, vocab, seed, tok}) {
        from->excludes(random_only);
    }
    cmd->add_option("-t,--threads", o->threads, "threads (default: all)");
    cmd->add_option("-o,--output", o->output, "output GGUF file")->required();
    cmd->callback([o, cmd] {
        o->type_given = cmd->count("--type") > 0;
        run(*o);
    });
}

}  // namespace sluice::cli
