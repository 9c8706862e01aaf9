// `sluice plot`: self-contained SVG (no scripts, no external references) from a routing trace
// (`sluice trace`), a profile (`sluice profile -o`) or expert-cache counters (--stats-json).
// Every cell and bar carries its numbers as data-* attributes (tools/plot.h, tools/svg.h).
#include "commands.h"
#include "tools/plot.h"
#include "util/error.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice::cli {
namespace {

struct plot_cli {
    std::string trace, profile, stats, kind = "heatmap", output;
    int         layer      = -1;
    bool        kind_given = false;
};

nlohmann::json read_json(const std::string & path) {
    std::ifstream in(path);
    if (!in) {
        fail("{}: cannot open the file", path);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception & e) {
        fail("{}: not JSON: {}", path, e.what());
    }
}

void run(const plot_cli & o) {
    const int given = !o.trace.empty() + !o.profile.empty() + !o.stats.empty();
    if (given != 1) {
        fail("plot: give exactly one of --trace, --profile and --stats");
    }
    if (o.kind_given && o.trace.empty()) {
        fail("plot: --kind applies to --trace only");
    }
    std::string svg;
    if (!o.trace.empty()) {
        const trace_plot kind = parse_trace_plot(o.kind);  // before the trace loads
        if (o.layer != -1 && kind != trace_plot::COACTIVATION) {
            fail("plot: --layer applies to --kind coactivation only");
        }
        svg =
            plot_trace(routing_trace::load(o.trace), kind, o.layer, std::filesystem::path(o.trace).filename().string());
    } else if (!o.profile.empty()) {
        svg = plot_profile(read_json(o.profile));
    } else {
        svg = plot_stats(read_json(o.stats));
    }
    std::ofstream out(o.output);
    if (!out || !(out << svg) || !out.flush()) {
        fail("plot: cannot write '{}'", o.output);
    }
    fmt::print(stderr, "wrote {}\n", o.output);
}

}  // namespace

void add_plot_command(CLI::App & app) {
    auto   o = std::make_shared<plot_cli>();
    auto * cmd =
        app.add_subcommand("plot", "self-contained SVG plots of routing traces, profiles and expert-cache counters");
    cmd->footer(
        "write a self-contained SVG plot. From a trace (--trace, `sluice trace` output): --kind heatmap (layer x "
        "expert, tokens that chose each expert), coactivation (experts i and j chosen for the same token, in "
        "--layer), recall (per layer, the share of its chosen experts that the trace's predictor guesses named; "
        "the cross-layer guess is this layer's router applied to the previous MoE layer's stream; bars for the "
        "guess cut to k and for the whole guess), layer-overlap (per layer, the share of its expert ids the previous "
        "MoE layer also chose: ids "
        "only, not a prediction). From a profile (--profile, `sluice profile -o`): layer x expert heat map of the "
        "log-ratio. From --stats-json output (--stats): hits, late and misses per layer as stacked bars (totals "
        "of the run: the file has no time series).");
    cmd->add_option("--trace", o->trace, "routing trace (JSON lines from `sluice trace`)");
    cmd->add_option("--profile", o->profile, "profile (JSON from `sluice profile -o`)");
    cmd->add_option("--stats", o->stats, "expert-cache counters (JSON from --stats-json)");
    cmd->add_option("--kind", o->kind, "with --trace: heatmap (default), coactivation, recall or layer-overlap");
    cmd->add_option("--layer", o->layer, "with --kind coactivation: the MoE layer (default: the first)");
    cmd->add_option("-o,--output", o->output, "SVG file to write")->required();
    cmd->callback([o, cmd] {
        o->kind_given = cmd->count("--kind") > 0;
        run(*o);
    });
}

}  // namespace sluice::cli
