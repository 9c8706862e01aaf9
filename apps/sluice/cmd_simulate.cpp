// `sluice simulate --trace trace.jsonl --budget 25% --policy lru --predictor cross-layer`:
// replay a routing trace through the expert cache's own bookkeeping (the code the streaming
// source runs) to compare cache policies and predictors in seconds, without the model.
#include "commands.h"
#include "gguf/gguf.h"
#include "tools/simulate.h"
#include "util/error.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>

namespace sluice::cli {
namespace {

struct simulate_cli {
    std::string trace, budget = "25%", policy = "predictive", quota = "shallow", predictor = "cross-layer";
    std::string calibration_file, json;
    int         extra = 2, n_expert = 0;
};

double parse_share(const std::string & s) {
    double v = 0.0;
    if (s.empty() || s.back() != '%') {
        fail("--budget '{}': give a share of each layer's experts, like 25%", s);
    }
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size() - 1, v);
    if (ec != std::errc() || p != s.data() + s.size() - 1 || v <= 0.0 || v > 100.0) {
        fail("--budget '{}': give a share of each layer's experts in (0, 100]%", s);
    }
    return v / 100.0;
}

void run(const simulate_cli & o) {
    const routing_trace trace = routing_trace::load(o.trace);
    simulate_options    opt;
    opt.budget_share  = parse_share(o.budget);
    opt.predictor     = parse_predictor(o.predictor);
    opt.eviction      = parse_eviction_policy(o.policy);
    opt.quota         = parse_quota_policy(o.quota);
    opt.predict_extra = o.extra;
    opt.n_expert      = o.n_expert;
    std::optional<calibration> cal;
    if (!o.calibration_file.empty()) {
        const trace_token & t0      = trace.tokens.at(0);
        const int           n_layer = t0.layers.empty() ? 0 : t0.layers.back().layer + 1;
        const gguf_file     f       = gguf_file::open(o.calibration_file);
        cal                         = calibration::load(o.calibration_file, n_layer,
                                                        static_cast<int>(f.require_u32("sluice.calibration.expert_count")),
                                                        static_cast<int64_t>(f.get_u64("sluice.calibration.embedding_length").value_or(0)));
        opt.calib                   = &*cal;
    }
    const stream_stats st = simulate(trace, opt);
    fmt::print("simulated {} tokens: predictor {}, policy {}, quota {}, budget {} = {} expert slots\n", st.tokens,
               st.predictor, st.eviction, st.quota, o.budget, st.cache_bytes);
    fmt::print("{:>5} {:>5} {:>8} {:>6} {:>7} {:>9} {:>12} {:>12}\n", "layer", "slots", "requests", "hit%", "recall",
               "precision", "reads/token", "wasted/tok");
    const double n   = static_cast<double>(st.tokens);
    const auto   row = [&](const std::string & name, int slots, const layer_stream_stats & l) {
        fmt::print("{:>5} {:>5} {:>8} {:>6.1f} {:>7.3f} {:>9.3f} {:>12.3f} {:>12.3f}\n", name, slots, l.requests,
                     100.0 * l.hit_rate(), l.recall(), l.precision(), static_cast<double>(l.reads) / n,
                     static_cast<double>(l.wasted_reads) / n);
    };
    int slots = 0;
    for (size_t l = 0; l < st.layers.size(); ++l) {
        if (st.slots[l] > 0) {
            row(std::to_string(l), st.slots[l], st.layers[l]);
            slots += st.slots[l];
        }
    }
    row("all", slots, st.total());
    if (!o.json.empty()) {
        std::ofstream(o.json) << stream_stats_json(st) << '\n';
    }
}

}  // namespace

void add_simulate_command(CLI::App & app) {
    auto   o   = std::make_shared<simulate_cli>();
    auto * cmd = app.add_subcommand("simulate", "replay a routing trace to compare cache policies and predictors");
    cmd->add_option("--trace", o->trace, "trace from `sluice trace`")->required();
    cmd->add_option("--budget", o->budget, "cache size as a share of each layer's experts")->default_val("25%");
    cmd->add_option("--policy", o->policy, "eviction: lru, lfu, predictive")->default_val("predictive");
    cmd->add_option("--quota", o->quota, "per-layer quota: uniform, shallow, popularity")->default_val("shallow");
    cmd->add_option("--predictor", o->predictor, "none, cross-layer, pregate (recorded), history, frequency, oracle")
        ->default_val("cross-layer");
    cmd->add_option("--predict-extra", o->extra, "predict k + N experts per layer")->default_val(2);
    cmd->add_option("--experts", o->n_expert, "experts per layer (default: from the trace)");
    cmd->add_option("--calibration", o->calibration_file, "popularity for frequency and the popularity quota");
    cmd->add_option("--stats-json", o->json, "write the counters as JSON");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
