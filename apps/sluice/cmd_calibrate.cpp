// `sluice calibrate -m M -f TEXT -o FILE`: measure expert popularity and fit the pregate
// predictor on sample text; the file feeds --calibration (frequency, pregate, popularity
// quota, --pin-hot).
#include "cli_common.h"
#include "commands.h"
#include "tools/calibrate.h"
#include "util/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

namespace sluice::cli {
namespace {

struct calibrate_cli {
    model_flags       model;
    std::string       file, output, skip_importance;
    int64_t           max_tokens = 1024;
    calibrate_options opt;
};

void run(calibrate_cli & o) {
    engine               e(make_engine_options(o.model));
    std::vector<int32_t> tokens = e.require_tokenizer().encode(read_text_file(o.file), true, false);
    if (o.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > o.max_tokens) {
        tokens.resize(static_cast<size_t>(o.max_tokens));
    }
    o.opt.session = make_session_options(o.model);  // the KV cache and batches of `run`
    fmt::print(stderr, "calibrating on {} tokens of {} ({}% held out)\n", tokens.size(), o.file,
               static_cast<int>(o.opt.holdout * 100));
    calibrate_report  report;
    const calibration cal = calibrate(e, tokens, o.opt, report);
    cal.save(o.output);
    fmt::print("held-out recall of the top {} guesses (k = {}), fitted on {} tokens:\n",
               e.hparams().n_expert_used + o.opt.extra, e.hparams().n_expert_used, report.fit_tokens);
    fmt::print("{:>5} {:>12} {:>8} {:>5}\n", "layer", "cross-layer", "pregate", "kept");
    double cl = 0.0, pg = 0.0;
    for (const calibrate_layer_report & r : report.layers) {
        fmt::print("{:>5} {:>12.3f} {:>8.3f} {:>5}\n", r.layer, r.cross_layer_recall, r.pregate_recall,
                   r.used ? "yes" : "no");
        cl += r.cross_layer_recall;
        pg += std::max(r.pregate_recall, r.cross_layer_recall);
    }
    if (!report.layers.empty()) {
        const auto n = static_cast<double>(report.layers.size());
        fmt::print("{:>5} {:>12.3f} {:>8.3f} (pregate where kept, else cross-layer)\n", "mean", cl / n, pg / n);
    }
    fmt::print("wrote {}\n", o.output);
    if (!o.skip_importance.empty()) {
        std::ofstream out(o.skip_importance);
        if (!out) {
            fail("--skip-importance: cannot write '{}'", o.skip_importance);
        }
        out << nlohmann::json{{"layer_importance", report.layer_importance}}.dump() << "\n";
        fmt::print("layer importance for --moe-skip-calibration: {:.3f}; wrote {}\n",
                   fmt::join(report.layer_importance, " "), o.skip_importance);
    }
}

}  // namespace

void add_calibrate_command(CLI::App & app) {
    auto   o   = std::make_shared<calibrate_cli>();
    auto * cmd = app.add_subcommand("calibrate", "measure expert popularity and fit the pregate predictor on text");
    add_model_flags(cmd, o->model);
    cmd->add_option("-f,--file", o->file, "sample text")->required();
    cmd->add_option("-o,--output", o->output, "calibration file to write")->required();
    cmd->add_option("--skip-importance", o->skip_importance,
                    "also write each layer's importance (mean sum_j w_j |y_j| / |x| of its routed experts, over the "
                    "mean of the MoE layers) as JSON for --moe-skip-calibration");
    cmd->add_option("--max-tokens", o->max_tokens, "use at most this many tokens of the text")->default_val(1024);
    cmd->add_option("--holdout", o->opt.holdout, "share of tokens kept out of the fit to evaluate it")
        ->default_val(0.2)
        ->check(CLI::Range(0.0, 0.9));
    cmd->add_option("--ridge", o->opt.ridge, "ridge regularisation (relative)")->default_val(1e-2);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
