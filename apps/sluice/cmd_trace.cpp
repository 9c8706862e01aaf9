// `sluice trace -m M -f TEXT -o trace.jsonl`: per token and MoE layer, the experts chosen,
// their weights and the predictors' guesses, as JSON lines for `sluice simulate` and the
// oracle predictor.
#include "cli_common.h"
#include "commands.h"
#include "tools/route_trace.h"
#include "util/error.h"

#include <fmt/format.h>

#include <fstream>

namespace sluice::cli {
namespace {

struct trace_cli {
    model_flags model;
    std::string file, ids, output;
    int64_t     max_tokens = 0;
};

void run(trace_cli & o) {
    engine               e(make_engine_options(o.model));
    std::vector<int32_t> tokens = prompt_tokens(e, o.ids, "", o.file, false);
    if (o.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > o.max_tokens) {
        tokens.resize(static_cast<size_t>(o.max_tokens));
    }
    std::optional<calibration> cal;
    if (!o.model.calibration.empty()) {
        cal = calibration::load(o.model.calibration, e.net().experts().n_layer(), e.net().experts().n_expert(),
                                e.hparams().n_embd);
    }
    trace_options opt;
    opt.calib                            = cal ? &*cal : nullptr;
    opt.session                          = make_session_options(o.model);  // the KV cache and batches of `run`
    const std::vector<trace_token> trace = record_trace(e, tokens, opt);
    std::ofstream                  out(o.output);
    if (!out) {
        fail("trace: cannot write '{}'", o.output);
    }
    for (const trace_token & t : trace) {
        out << to_json_line(t) << '\n';
    }
    fmt::print(stderr, "wrote {} tokens of routing to {}\n", trace.size(), o.output);
}

}  // namespace

void add_trace_command(CLI::App & app) {
    auto   o   = std::make_shared<trace_cli>();
    auto * cmd = app.add_subcommand("trace", "record routing and predictor guesses per token and layer (JSON lines)");
    add_model_flags(cmd, o->model);
    cmd->add_option("-f,--file", o->file, "text to run");
    cmd->add_option("--ids", o->ids, "token ids to run instead of text");
    cmd->add_option("-o,--output", o->output, "trace file to write")->required();
    cmd->add_option("--max-tokens", o->max_tokens, "stop after this many tokens");
    cmd->callback([o] {
        if (o->file.empty() == o->ids.empty()) {
            fail("trace: give the text with -f or the tokens with --ids");
        }
        run(*o);
    });
}

}  // namespace sluice::cli
