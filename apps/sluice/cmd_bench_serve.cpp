// `sluice bench-serve -m M [-t 2] [-n 32]`: the server under load. First, in the same run and
// on the same engine, batched decode (decode_batch over B sessions) against one-at-a-time
// decode (B sessions stepped one after the other); then `serve` in-process on a free loopback
// port, driven by concurrent clients at each concurrency level (serve_load.h): total tokens/s
// (prompt + completion), completion tokens/s, p50/p99 request latency and time to first token.
// With --peer-url, the same load goes to another OpenAI-compatible server (llama-server) at
// each level in the same run, and each level gets a sluice / peer ratio row. Markdown rows.

#include "cli_common.h"
#include "commands.h"
#include "serve_load.h"
#include "server/http_server.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <thread>

namespace sluice::cli {
namespace {

using clock_type = std::chrono::steady_clock;

struct bench_serve_options {
    model_flags      model;
    int              n_gen    = 32;  // completion tokens per request (the end token is ignored)
    int              requests = 0;   // per level; 0: 4 x concurrency, at least 8
    std::vector<int> levels   = {1, 4, 8, 16};
    int              steps    = 32;  // decode steps for the batched / one-at-a-time ratio
    std::string      peer_url;       // another OpenAI-compatible server run with the same load
    std::string      peer_model;     // its requests' "model" field (default: sluice's model id)
};

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Decode tok/s of B sequences: one batched step per token for all of them, against each
// sequence stepped alone. The same engine, sessions and tokens; best of 3. Prints the table
// row; returns, under --expert-budget, a line with the disk reads per token of both.
std::string decode_ratio(engine & e, const model_flags & mf, int batch, int steps) {
    session_options so = make_session_options(mf);
    so.n_ctx           = 16 + steps + 1;
    std::vector<std::unique_ptr<session>> seqs;
    for (int i = 0; i < batch; ++i) {
        seqs.push_back(std::make_unique<session>(e, so));
    }
    const int32_t V            = static_cast<int32_t>(e.hparams().n_vocab);
    double        best_batched = 0.0, best_single = 0.0;
    // Of the batched steps: distinct experts per MoE layer and step, expert bytes per token.
    double experts_per_layer_step = 0.0, expert_bytes_per_token = 0.0;
    // Under --expert-budget: bytes read from disk, batched and one at a time (all rounds).
    uint64_t   disk_batched = 0, disk_single = 0;
    const auto disk_read = [&] {
        const std::optional<stream_stats> st = e.streaming_stats();
        return st ? st->total().bytes_read : uint64_t{0};
    };
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<session *> group;
        for (int i = 0; i < batch; ++i) {
            seqs[i]->reset();
            const int32_t prompt[4] = {1, (7 * i + 3) % V, (11 * i + 5) % V, (13 * i + 7) % V};
            seqs[i]->eval(prompt);
            group.push_back(seqs[i].get());
        }
        std::vector<int32_t>             tokens(batch);
        const engine::expert_use_summary use0  = e.expert_use();
        uint64_t                         disk0 = disk_read();
        auto                             t0    = clock_type::now();
        for (int s = 0; s < steps; ++s) {
            for (int i = 0; i < batch; ++i) {
                tokens[i] = argmax(seqs[i]->logits());
            }
            decode_batch(group, tokens);
        }
        best_batched = std::max(best_batched, batch * steps / seconds_since(t0));
        disk_batched += disk_read() - disk0;
        const engine::expert_use_summary use1 = e.expert_use();
        experts_per_layer_step                = static_cast<double>(use1.experts - use0.experts) /
                                 static_cast<double>(std::max<uint64_t>(1, use1.layer_passes - use0.layer_passes));
        expert_bytes_per_token = static_cast<double>(use1.bytes - use0.bytes) / (batch * steps);

        for (int i = 0; i < batch; ++i) {
            seqs[i]->reset();
            const int32_t prompt[4] = {1, (7 * i + 3) % V, (11 * i + 5) % V, (13 * i + 7) % V};
            seqs[i]->eval(prompt);
        }
        disk0 = disk_read();
        t0    = clock_type::now();
        for (int s = 0; s < steps; ++s) {
            for (int i = 0; i < batch; ++i) {
                const int32_t one[1] = {argmax(seqs[i]->logits())};
                seqs[i]->eval(one);
            }
        }
        best_single = std::max(best_single, batch * steps / seconds_since(t0));
        disk_single += disk_read() - disk0;
    }
    fmt::print("| {:>5} | {:>6} | {:>16.1f} | {:>19.1f} | {:>5.2f}x | {:>18.2f} | {:>16.2f} |\n", batch, steps,
               best_batched, best_single, best_batched / best_single, experts_per_layer_step,
               expert_bytes_per_token / (1024.0 * 1024.0));
    if (e.streaming_stats()) {
        const double tokens = 3.0 * batch * steps * 1048576.0;
        return fmt::format("batch {}: {:.2f} MiB read from disk per token batched, {:.2f} MiB one at a time\n", batch,
                           static_cast<double>(disk_batched) / tokens, static_cast<double>(disk_single) / tokens);
    }
    return "";
}

void run(bench_serve_options & o) {
    if (o.n_gen < 1 || o.levels.empty()) {
        fail("bench-serve: -n must be at least 1 and --levels not empty");
    }
    const std::string peer = o.peer_url.empty() ? "" : checked_base_url(o.peer_url);  // before the model loads
    engine            e(make_engine_options(o.model));
    const int         max_level = *std::max_element(o.levels.begin(), o.levels.end());
    fmt::print("model {} | threads {} | {} completion tokens per request\n\n", o.model.model, e.pool().size(), o.n_gen);

    fmt::print("Batched decode vs one at a time (same engine, same run; tok/s over all sequences)\n\n");
    fmt::print(
        "| batch | steps  | batched tok/s    | one-at-a-time tok/s | ratio  | experts/layer/step | expert MiB/token "
        "|\n");
    fmt::print(
        "|------:|-------:|-----------------:|--------------------:|-------:|-------------------:|-----------------:|"
        "\n");
    // batch 4 and every level above 1, each once
    std::set<int> batches = {4};
    for (int c : o.levels) {
        if (c > 1) {
            batches.insert(c);
        }
    }
    std::string disk;
    for (int b : batches) {
        disk += decode_ratio(e, o.model, b, o.steps);
    }
    if (!disk.empty()) {
        fmt::print("\n{}", disk);
    }
    if (const std::optional<stream_stats> st = e.streaming_stats()) {  // --expert-budget: batches streamed
        const layer_stream_stats t = st->total();
        const double             n = static_cast<double>(std::max<int64_t>(1, st->tokens));
        fmt::print(
            "\nexperts streamed under --expert-budget {} ({}, eviction {}): {:.1f}% hits, {:.2f} MiB read and "
            "{:.2f} ms waiting per token over {} tokens\n",
            o.model.expert_budget, st->predictor == "none" ? "load on demand" : "predictor " + st->predictor,
            st->eviction, 100.0 * t.hit_rate(), static_cast<double>(t.bytes_read) / 1048576.0 / n, t.io_wait_ms / n,
            st->tokens);
    }

    server::server_options so;
    so.port                = 0;
    so.sched.n_slots       = max_level;
    so.sched.max_queue     = 1024;
    so.sched.session       = make_session_options(o.model);
    so.defaults.ignore_eos = true;  // every request generates exactly -n tokens
    server::http_server srv(e, so);
    const int           port = srv.bind();
    std::thread         serving([&] { srv.listen(); });

    fmt::print("\nServer over loopback (--parallel {}; streamed /v1/completions, {} tokens each, temperature 0){}\n\n",
               max_level, o.n_gen, peer.empty() ? "" : fmt::format("; peer {}, same load, same run", peer));
    fmt::print(
        "| concurrency | {}requests | total tok/s | completion tok/s | p50 ms | p99 ms | TTFT p50 ms | TTFT p99 ms | "
        "failed |\n",
        peer.empty() ? "" : "server | ");
    fmt::print(
        "|------------:|{}---------:|------------:|-----------------:|-------:|-------:|------------:|------------:|"
        "-------:|\n",
        peer.empty() ? "" : "-------:|");
    const std::string tag = fmt::format("# run {}\n", std::random_device{}() % 1000000);
    load_spec         ours{fmt::format("http://127.0.0.1:{}", port), srv.model_id(), tag};
    load_spec         theirs{peer, o.peer_model.empty() ? srv.model_id() : o.peer_model, tag};
    ours.n_gen = theirs.n_gen = o.n_gen;
    const auto row            = [&](int c, const char * who, const load_result & r) {
        fmt::print(
                       "| {:>11} | {}{:>8} | {:>11.1f} | {:>16.1f} | {:>6.0f} | {:>6.0f} | {:>11.0f} | {:>11.0f} | {:>6} |\n", c,
            peer.empty() ? "" : fmt::format("{:>6} | ", who), r.done, r.total_tok_s(), r.completion_tok_s(),
                       percentile(r.latency_ms, 0.5), percentile(r.latency_ms, 0.99), percentile(r.ttft_ms, 0.5),
                       percentile(r.ttft_ms, 0.99), r.failed);
        std::fflush(stdout);
    };
    const auto warm_up = [&](load_spec s) {
        s.concurrency = 1;
        s.requests    = 2;
        (void)run_load(s);
    };
    warm_up(ours);
    if (!peer.empty()) {
        warm_up(theirs);
    }
    struct ratio {
        int    level;
        double tok_s, p99;
    };
    std::vector<ratio> ratios;
    std::string        errors;
    int                peer_failed = 0;
    for (size_t li = 0; li < o.levels.size(); ++li) {
        const int c      = o.levels[li];
        ours.concurrency = theirs.concurrency = c;
        ours.requests = theirs.requests = o.requests > 0 ? o.requests : std::max(8, 4 * c);
        if (peer.empty()) {
            row(c, "sluice", run_load(ours));
            continue;
        }
        // The two servers take turns going first, so a drift of the machine falls on both.
        load_result a, b;
        if (li % 2 == 0) {
            a = run_load(ours);
            b = run_load(theirs);
        } else {
            b = run_load(theirs);
            a = run_load(ours);
        }
        row(c, "sluice", a);
        row(c, "peer", b);
        if (!b.first_error.empty() && errors.empty()) {
            errors = b.first_error;
        }
        peer_failed += b.failed;
        const auto   q   = [](double x, double y) { return y > 0 ? x / y : 0.0; };
        const double p99 = q(percentile(a.latency_ms, 0.99), percentile(b.latency_ms, 0.99));
        ratios.push_back({c, q(a.completion_tok_s(), b.completion_tok_s()), p99});
        fmt::print(
            "| {:>11} |  ratio | {:>8} | {:>10.2f}x | {:>15.2f}x | {:>5.2f}x | {:>5.2f}x | {:>10.2f}x | {:>10.2f}x | "
            "{:>6} |\n",
            c, "", q(a.total_tok_s(), b.total_tok_s()), ratios.back().tok_s,
            q(percentile(a.latency_ms, 0.5), percentile(b.latency_ms, 0.5)), p99,
            q(percentile(a.ttft_ms, 0.5), percentile(b.ttft_ms, 0.5)),
            q(percentile(a.ttft_ms, 0.99), percentile(b.ttft_ms, 0.99)), "");
    }
    if (!peer.empty()) {
        fmt::print("\nratio: sluice / peer (tok/s: higher is better; ms: lower is better)\n");

        fmt::print("goal: completion tok/s >= 1.2x the peer's with p99 latency no worse:");
        for (const ratio & r : ratios) {
            fmt::print(" c{} {:.2f}x{}", r.level, r.tok_s, r.tok_s >= 1.2 && r.p99 <= 1.0 ? " (met)" : " (not met)");
        }
        fmt::print("\n");
    }
    srv.stop();
    serving.join();
    if (peer_failed > 0) {  // its ratios compare against fewer requests than sluice's: not a result
        fail("bench-serve: {} requests to the peer at {} failed; the first: {}", peer_failed, peer, errors);
    }
}

}  // namespace

void add_bench_serve_command(CLI::App & app) {
    auto   o   = std::make_shared<bench_serve_options>();
    auto * cmd = app.add_subcommand("bench-serve", "throughput and latency of `serve` at several concurrency levels");
    add_model_flags(cmd, o->model);
    cmd->add_option("-n,--n-gen", o->n_gen, "completion tokens per request")->default_val(32);
    cmd->add_option("--requests", o->requests, "requests per level (0: 4 x concurrency, at least 8)")->default_val(0);
    cmd->add_option("--levels", o->levels, "concurrency levels")->delimiter(',')->default_str("1,4,8,16");
    cmd->add_option("--steps", o->steps, "decode steps of the batched / one-at-a-time comparison")->default_val(32);
    cmd->add_option("--peer-url", o->peer_url,
                    "also run the same load against this OpenAI-compatible server (http://HOST:PORT, e.g. "
                    "llama-server started with -np at least the highest level) and print sluice / peer ratios");
    cmd->add_option("--peer-model", o->peer_model, "the peer requests' \"model\" field (default: sluice's model id)");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
