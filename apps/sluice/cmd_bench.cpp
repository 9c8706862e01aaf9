// `sluice bench -m M [-p 64,512] [-n 32] [-t 2] [-r 3]`: prefill (at each prompt length) and
// decode speed, like llama-bench, next to the bound memory bandwidth puts on decode (bytes of
// active weights per token / read bandwidth measured in the same run), and which kernel path
// each weight type of the model runs.

#include "cli_common.h"
#include "cli_parallel.h"
#include "cli_routing.h"
#include "commands.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "util/bandwidth.h"
#include "util/error.h"
#include "util/memory_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

namespace sluice::cli {
namespace {

struct bench_options {
    model_flags      model;
    parallel_flags   parallel;
    routing_request  routing;
    std::vector<int> n_prompts = {64};
    int              n_gen     = 32;
    int              reps      = 3;
};

double seconds_of(const std::function<void()> & f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// "avx512: multi-token tiles for q8_0, q4_K; one token at a time for f32": how prefill and
// batched decode multiply each weight type of the model's matrices on this ISA.
std::string kernel_paths(engine & e) {
    std::set<ggml_type> types;
    for (const gguf_tensor & t : e.file().tensors()) {
        if (t.n_dims >= 2 && traits(t.type).computable) {
            types.insert(t.type);
        }
    }
    std::vector<std::string_view> tiled, single;
    for (ggml_type t : types) {
        const type_kernels * k = find_kernels(t, e.runner().target());
        (k != nullptr && k->dot_tile != nullptr ? tiled : single).push_back(type_name(t));
    }
    std::string out(isa_name(e.runner().target()));
    out += ":";
    if (!tiled.empty()) {
        out += fmt::format(" multi-token tiles for {}", fmt::join(tiled, ", "));
    }
    if (!single.empty()) {
        out += fmt::format("{} one token at a time for {}", tiled.empty() ? "" : ";", fmt::join(single, ", "));
    }
    return out;
}

double exchange_seconds(const mpi_expert_parallel & ep) {
    return ep.counters().combine_seconds + ep.counters().broadcast_seconds;
}

// Weight bytes rank `rank` computes from: every tensor but the routed experts, plus its own
// experts (the pages of the others' are never touched).
uint64_t bytes_of_rank(const engine & e, int rank) {
    uint64_t bytes = 0;
    for (const gguf_tensor & t : e.file().tensors()) {
        bytes += t.nbytes;
    }
    return bytes - e.net().experts().total_bytes() + e.owned_expert_bytes(rank);
}

// --expert-parallel: where each rank's decode time went (its own experts and attention vs the
// exchanges: waiting for the others' sums, which includes waiting for a slower rank, and
// adding them) and what it holds; every rank's numbers, printed by rank 0.
void report_parallel(const engine & e, mpi_expert_parallel & ep, double s_per_token, double exchange_share,
                     uint64_t rss) {
    const std::vector<double> share = ep.all_ranks(exchange_share);
    const std::vector<double> per   = ep.all_ranks(s_per_token);
    const std::vector<double> held  = ep.all_ranks(static_cast<double>(bytes_of_rank(e, ep.rank())));
    const std::vector<double> peak  = ep.all_ranks(static_cast<double>(rss));
    fmt::print("parallel   {} ranks, experts by {}; one exchange of {} doubles per MoE layer and token\n", ep.ranks(),
               ep.partition().scheme(), e.hparams().n_embd);
    for (int r = 0; r < ep.ranks(); ++r) {
        fmt::print(
            "  rank {:<3} decode {:6.2f} ms/token: compute {:6.2f} ms, exchange {:6.2f} ms ({:4.1f}%)   holds "
            "{} of weights, peak RSS {}\n",
            r, 1e3 * per[r], 1e3 * per[r] * (1.0 - share[r]), 1e3 * per[r] * share[r], 100.0 * share[r],
            human_bytes(static_cast<uint64_t>(held[r])), human_bytes(static_cast<uint64_t>(peak[r])));
    }
}

void run(bench_options & o) {
    if (o.n_prompts.empty() || *std::min_element(o.n_prompts.begin(), o.n_prompts.end()) < 1 || o.n_gen < 1 ||
        o.reps < 1) {
        fail("bench: -p, -n and -r must be at least 1");
    }
    const int longest = *std::max_element(o.n_prompts.begin(), o.n_prompts.end());
    if (o.model.ctx <= 0) {
        o.model.ctx = longest + o.n_gen;
    }
    ranked_engine                              ranked(o.model, o.parallel);
    engine &                                   e  = ranked.e;
    const std::shared_ptr<mpi_expert_parallel> ep = ranked.ep;
    const model_hparams &                      hp = e.hparams();
    std::mt19937_64                            rng(42);
    std::vector<int32_t>                       prompt(static_cast<size_t>(longest)), gen(o.n_gen);
    for (auto & t : prompt) t = static_cast<int32_t>(rng() % hp.n_vocab);
    for (auto & t : gen) t = static_cast<int32_t>(rng() % hp.n_vocab);

    session_options so = make_session_options(o.model);
    so.routing         = make_routing(e, o.routing);
    routing_tally       tally;
    std::vector<double> best_pp(o.n_prompts.size(), 0.0);
    double              best_tg  = 0.0;
    double              decode_s = 0.0, decode_exchange_s = 0.0;  // all rounds, for --expert-parallel
    // Each round runs every prompt length in a fresh session, then decodes after the first.
    for (int r = 0; r < o.reps; ++r) {
        for (size_t i = 0; i < o.n_prompts.size(); ++i) {
            session                        s(e, so);
            const std::span<const int32_t> p(prompt.data(), static_cast<size_t>(o.n_prompts[i]));
            best_pp[i] = std::max(best_pp[i], o.n_prompts[i] / seconds_of([&] { s.eval(p); }));
            if (i == 0) {
                const double exchange0 = ep ? exchange_seconds(*ep) : 0.0;
                const double tg        = seconds_of([&] {
                    for (int32_t t : gen) {
                        const int32_t one[1] = {t};
                        s.eval(one);
                    }
                });
                best_tg                = std::max(best_tg, o.n_gen / tg);
                decode_s += tg;
                decode_exchange_s += ep ? exchange_seconds(*ep) - exchange0 : 0.0;
                tally = s.routing_counts();
            }
        }
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
    fmt::print("kernels    {}\n", kernel_paths(e));
    std::string experts = "as the file lays them out";
    if (!o.model.packed_experts.empty()) {
        experts = fmt::format("packed ahead of time, from {}", o.model.packed_experts);
    } else if (e.packed_expert_bytes() > 0) {
        experts = fmt::format("packed at load ({}), no repack per call", human_bytes(e.packed_expert_bytes()));
    }
    fmt::print("experts    {}\n", experts);
    fmt::print("attention  {}\n", hp.kv_lora_rank > 0
                                      ? std::string("multi-head latent: one query vector at a time")
                                      : fmt::format("{}: blocks of {} keys, keys in lanes of {}, {} cache",
                                                    isa_name(attention_isa(e.runner().target(), hp.head_dim)),
                                                    k_attention_block, k_key_lanes, o.model.kv_type));
    for (size_t i = 0; i < o.n_prompts.size(); ++i) {
        fmt::print("prefill    {:4} tokens  {:8.1f} tok/s  ({:.1f} G weight-bytes x token/s)\n", o.n_prompts[i],
                   best_pp[i], best_pp[i] * gflop_per_token / 2.0);
    }
    fmt::print("decode     {:4} tokens  {:8.1f} tok/s  = {:.0f}% of the bandwidth bound\n", o.n_gen, best_tg,
               100.0 * best_tg / bound);
    fmt::print("peak RSS   {} (model run, before the bandwidth probe)\n", human_bytes(rss));
    if (ep) {
        report_parallel(e, *ep, decode_s / (o.reps * o.n_gen), decode_exchange_s / decode_s, rss);
    }
    report_streaming(e, o.model);
    report_routing(e, so.routing.get(), tally);
}

}  // namespace

void add_bench_command(CLI::App & app) {
    auto   o   = std::make_shared<bench_options>();
    auto * cmd = app.add_subcommand("bench", "prefill and decode speed against the memory-bandwidth bound");
    add_model_flags(cmd, o->model);
    add_parallel_flags(cmd, o->parallel);
    add_routing_flags(cmd, o->routing);
    cmd->add_option("-p,--n-prompt", o->n_prompts, "prompt tokens (prefill); a list (64,512,2048) times each")
        ->delimiter(',')
        ->default_str("64");
    cmd->add_option("-n,--n-gen", o->n_gen, "generated tokens (decode)")->default_val(32);
    cmd->add_option("-r,--repetitions", o->reps, "repetitions; the best is reported")->default_val(3);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
