// `sluice bench -m M [-p 64] [-n 32] [-t 2] [-r 3]`: prefill and decode speed, like
// llama-bench, next to the bound memory bandwidth puts on decode (bytes of active weights
// per token / read bandwidth measured in the same run).

#include "cli_common.h"
#include "cli_routing.h"
#include "commands.h"
#include "util/bandwidth.h"
#include "util/error.h"
#include "util/memory_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace sluice::cli {
namespace {

struct bench_options {
    model_flags     model;
    routing_request routing;
    int             n_prompt = 64;
    int             n_gen    = 32;
    int             reps     = 3;
};

double seconds_of(const std::function<void()> & f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run(bench_options & o) {
    if (o.n_prompt < 1 || o.n_gen < 1 || o.reps < 1) {
        fail("bench: -p, -n and -r must be at least 1");
    }
    if (o.model.ctx <= 0) {
        o.model.ctx = o.n_prompt + o.n_gen;
    }
    engine                e(make_engine_options(o.model));
    const model_hparams & hp = e.hparams();
    std::mt19937_64       rng(42);
    std::vector<int32_t>  prompt(o.n_prompt), gen(o.n_gen);
    for (auto & t : prompt) t = static_cast<int32_t>(rng() % hp.n_vocab);
    for (auto & t : gen) t = static_cast<int32_t>(rng() % hp.n_vocab);

    session_options so = make_session_options(o.model);
    so.routing         = make_routing(e, o.routing);
    routing_tally tally;
    double        best_pp = 0.0, best_tg = 0.0;
    for (int r = 0; r < o.reps; ++r) {
        session      s(e, so);
        const double pp = seconds_of([&] { s.eval(prompt); });
        const double tg = seconds_of([&] {
            for (int32_t t : gen) {
                const int32_t one[1] = {t};
                s.eval(one);
            }
        });
        best_pp         = std::max(best_pp, o.n_prompt / pp);
        best_tg         = std::max(best_tg, o.n_gen / tg);
        tally           = s.routing_counts();
    }
    const uint64_t rss    = peak_rss_bytes();  // before the bandwidth probe's buffer
    const double   bw     = measure_read_bandwidth(e.pool(), size_t(512) << 20);
    const uint64_t active = e.active_bytes_per_token();
    const double   bound  = bw * 1e9 / static_cast<double>(active);
    // 2 flops per weight per token: what prefill would reach if it were memory-free.
    const double gflop_per_token = 2.0 * static_cast<double>(active) / 1e9;
    fmt::print("model      {} ({} layers, {} experts, {} used)\n", o.model.model, hp.n_layer, hp.n_expert,
               hp.n_expert_used);
    fmt::print("threads    {}   isa {}   repetitions {} (best reported)\n", e.pool().size(),
               isa_name(e.runner().target()), o.reps);
    fmt::print("memory     read bandwidth {:.1f} GB/s (measured now, {} threads)\n", bw, e.pool().size());
    fmt::print("active     {} of weights per token -> decode bound {:.1f} tok/s\n", human_bytes(active), bound);
    fmt::print("prefill    {:4} tokens  {:8.1f} tok/s  ({:.1f} G weight-bytes x token/s)\n", o.n_prompt, best_pp,
               best_pp * gflop_per_token / 2.0);
    fmt::print("decode     {:4} tokens  {:8.1f} tok/s  = {:.0f}% of the bandwidth bound\n", o.n_gen, best_tg,
               100.0 * best_tg / bound);
    fmt::print("peak RSS   {} (model run, before the bandwidth probe)\n", human_bytes(rss));
    report_streaming(e, o.model);
    report_routing(e, so.routing.get(), tally);
}

}  // namespace

void add_bench_command(CLI::App & app) {
    auto   o   = std::make_shared<bench_options>();
    auto * cmd = app.add_subcommand("bench", "prefill and decode speed against the memory-bandwidth bound");
    add_model_flags(cmd, o->model);
    add_routing_flags(cmd, o->routing);
    cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens (prefill)")->default_val(64);
    cmd->add_option("-n,--n-gen", o->n_gen, "generated tokens (decode)")->default_val(32);
    cmd->add_option("-r,--repetitions", o->reps, "repetitions; the best is reported")->default_val(3);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
