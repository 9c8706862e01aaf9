// `sluice simulate --trace trace.jsonl --budget 25% --policy lru --predictor cross-layer`:
// replay a routing trace through the expert cache's own bookkeeping (the code the streaming
// source runs) to compare cache policies and predictors in seconds, without the model, and
// against Belady's bound (OPT) at the same slots.
#include "commands.h"
#include "engine/engine.h"
#include "experts/budget.h"
#include "experts/streaming_source.h"
#include "gguf/gguf.h"
#include "tools/simulate.h"
#include "util/error.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>

namespace sluice::cli {
namespace {

struct simulate_cli {
    std::string trace, budget = "25%", policy = "markov", quota = "shallow", predictor = "none";
    std::string calibration_file, json, model, shadow, shadow_policy                   = "all";
    int         extra = 2, n_expert = 0;
    bool        cmd_shadow_policy = false;  // --shadow-policy was given
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
    uint64_t            expert_total = 0;  // with -m: the routed experts' bytes
    if (!o.shadow.empty() && o.model.empty()) {
        fail("--shadow sizes reads in the shadow's bytes against the model's; give the model with -m");
    }
    if (o.shadow.empty() && o.cmd_shadow_policy) {
        fail("--shadow-policy chooses what is read from --shadow; it needs --shadow");
    }
    if (o.model.empty()) {
        opt.budget_share = parse_share(o.budget);
    } else {  // sizes as the live cache of this model counts them
        engine_options eo;
        eo.model_path              = o.model;
        eo.n_threads               = 1;
        const engine         e     = engine(eo);
        const expert_store & store = e.net().experts();
        opt.slot_bytes             = streaming_expert_source::slot_bytes(store);
        opt.read_bytes             = store.expert_bytes_per_layer();
        if (!o.shadow.empty()) {  // the shadow's reads and the slots the live cache then plans
            const gguf_file    file  = gguf_file::open(o.shadow);
            const expert_store small = store.in_other_file(file);
            opt.shadow               = parse_shadow_policy(o.shadow_policy);
            opt.slot_bytes           = streaming_expert_source::slot_bytes(store, &small, opt.shadow);
            opt.shadow_read_bytes    = small.expert_bytes_per_layer();
        }
        expert_total     = store.total_bytes();
        opt.budget_bytes = parse_budget(o.budget, expert_total, "--budget");
        if (o.n_expert == 0) {
            opt.n_expert = store.n_expert();
        }
    }
    opt.predictor     = parse_predictor(o.predictor);
    opt.eviction      = parse_eviction_policy(o.policy);
    opt.quota         = parse_quota_policy(o.quota);
    opt.predict_extra = o.extra;
    opt.n_expert      = o.n_expert > 0 ? o.n_expert : opt.n_expert;
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
    if (o.extra < 0) {
        fail("--predict-extra must be >= 0, not {}", o.extra);
    }
    if (o.n_expert < 0) {
        fail("--experts must be > 0, not {}", o.n_expert);
    }
    const stream_stats st = simulate(trace, opt);
    // Belady's bound: the fewest reads any eviction could do with these slots, knowing the
    // future and reading nothing ahead.
    simulate_options best    = opt;
    best.eviction            = eviction_policy::OPT;
    best.predictor           = predictor_kind::NONE;
    const stream_stats bound = simulate(trace, best);
    // What history could at best teach an eviction about the next token: it knows that
    // token's experts for certain (and nothing further).
    best.eviction                 = eviction_policy::NEXT_TOKEN;
    const stream_stats next_token = simulate(trace, best);

    int slots = 0, layers = 0;
    for (int n : st.slots) {
        slots += n;
        layers += n > 0 ? 1 : 0;
    }
    fmt::print("simulated {} tokens: predictor {}, policy {}, quota {}; reads finish as they start (late% is 0)\n",
               st.tokens, st.predictor, st.eviction, st.quota);
    if (opt.shadow != shadow_policy::NONE) {
        const layer_stream_stats t = st.total();
        fmt::print(
            "shadow {} ({}): {} of {} reads from the shadow, {} read again exact, {:.1f}% of requests served "
            "by a shadow copy (lossy; a trace of the exact run, whose routing a lossy run would change)\n",
            name_of(opt.shadow), o.shadow, t.shadow_reads, t.reads, t.upgrades,
            t.requests ? 100.0 * static_cast<double>(t.shadow_uses) / static_cast<double>(t.requests) : 0.0);
    }
    if (o.model.empty()) {
        fmt::print(
            "budget {} of the routed experts = {} expert slots over {} MoE layers (as --expert-budget {} sizes "
            "the live cache when experts are equal in size; -m gives the model's bytes)\n",
            o.budget, slots, layers, o.budget);
    } else {
        fmt::print(
            "budget {} = {:.1f} MiB of the routed experts' {:.1f} MiB = {} expert slots over {} MoE layers, as "
            "--expert-budget {} plans the live cache of {}\n",
            o.budget, static_cast<double>(opt.budget_bytes) / 1048576.0, static_cast<double>(expert_total) / 1048576.0,
            slots, layers, o.budget, o.model);
    }
    fmt::print("{:>5} {:>5} {:>8} {:>6} {:>6} {:>7} {:>9} {:>12} {:>12}\n", "layer", "slots", "requests", "hit%",
               "late%", "recall", "precision", "reads/token", "wasted/tok");
    const double n   = static_cast<double>(st.tokens);
    const auto   row = [&](const std::string & name, int n_slots, const layer_stream_stats & l) {
        const double req = l.requests ? static_cast<double>(l.requests) : 1.0;
        fmt::print("{:>5} {:>5} {:>8} {:>6.1f} {:>6.1f} {:>7.3f} {:>9.3f} {:>12.3f} {:>12.3f}\n", name, n_slots,
                     l.requests, 100.0 * static_cast<double>(l.hits) / req, 100.0 * static_cast<double>(l.late) / req,
                     l.recall(), l.precision(), static_cast<double>(l.reads) / n,
                     static_cast<double>(l.wasted_reads) / n);
    };
    for (size_t l = 0; l < st.layers.size(); ++l) {
        if (st.slots[l] > 0) {
            row(std::to_string(l), st.slots[l], st.layers[l]);
        }
    }
    row("all", slots, st.total());
    const double reads     = static_cast<double>(st.total().reads) / n;
    const double opt_reads = static_cast<double>(bound.total().reads) / n;
    fmt::print(
        "Belady's bound (opt, load on demand, the same slots): {:.3f} reads/token; this run reads {:.2f}x that\n",
        opt_reads, opt_reads > 0 ? reads / opt_reads : 1.0);
    const double next_reads = static_cast<double>(next_token.total().reads) / n;
    fmt::print("knowing only the next token's experts (next-token, load on demand): {:.3f} reads/token, {:.2f}x opt\n",
               next_reads, opt_reads > 0 ? next_reads / opt_reads : 1.0);
    if (!o.model.empty()) {
        fmt::print("bytes read per token: {:.2f} MiB (opt: {:.2f} MiB)\n",
                   static_cast<double>(st.total().bytes_read) / 1048576.0 / n,
                   static_cast<double>(bound.total().bytes_read) / 1048576.0 / n);
    }
    if (!o.json.empty()) {
        std::ofstream(o.json) << stream_stats_json(st) << '\n';
    }
}

}  // namespace

void add_simulate_command(CLI::App & app) {
    auto   o   = std::make_shared<simulate_cli>();
    auto * cmd = app.add_subcommand(
        "simulate", "replay a routing trace to compare cache policies and predictors with Belady's bound");
    cmd->add_option("--trace", o->trace, "trace from `sluice trace`")->required();
    cmd->add_option("--budget", o->budget,
                    "cache size: a share of each layer's experts (25%), or with -m as --expert-budget takes it "
                    "(25% of the expert bytes, 512M, 2G)")
        ->default_val("25%");
    cmd->add_option("-m,--model", o->model, "the traced model: size slots, budget and reads in its bytes")
        ->check(CLI::ExistingFile);
    cmd->add_option(
           "--policy", o->policy,
           "eviction: lru, lfu, predictive, decay, markov, opt (Belady's: evicts the expert used farthest in the "
           "future), next-token (knows the next token's experts and spares them, then decay)")
        ->default_val("markov");
    cmd->add_option("--quota", o->quota, "per-layer quota: uniform, shallow, popularity")->default_val("shallow");
    cmd->add_option("--predictor", o->predictor, "none, cross-layer, pregate (recorded), history, frequency, oracle")
        ->default_val("none");
    cmd->add_option("--predict-extra", o->extra, "predict k + N experts per layer")->default_val(2);
    cmd->add_option("--experts", o->n_expert, "experts per layer (default: from the trace)");
    cmd->add_option("--calibration", o->calibration_file, "popularity for frequency and the popularity quota");
    cmd->add_option("--stats-json", o->json, "write the counters as JSON");
    cmd->add_option("--shadow", o->shadow,
                    "an expert shadow of the model (`sluice quantize --expert-shadow`): slots and reads as the live "
                    "cache plans them under --shadow-policy (needs -m)")
        ->check(CLI::ExistingFile);
    auto * sp =
        cmd->add_option("--shadow-policy", o->shadow_policy, "which reads go to --shadow: cold, speculative, all")
            ->default_val("all");
    cmd->callback([o, sp] {
        o->cmd_shadow_policy = sp->count() > 0;
        run(*o);
    });
}

}  // namespace sluice::cli
