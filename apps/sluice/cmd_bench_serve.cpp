// `sluice bench-serve -m M [-t 2] [-n 32]`: the server under load. First, in the same run and
// on the same engine, batched decode (decode_batch over B sessions) against one-at-a-time
// decode (B sessions stepped one after the other); then `serve` in-process on a free loopback
// port, driven by concurrent clients at each concurrency level: total tokens/s (prompt +
// completion), completion tokens/s, and p50/p99 request latency. Markdown rows.

#include "cli_common.h"
#include "commands.h"
#include "server/http_server.h"
#include "util/error.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

namespace sluice::cli {
namespace {

using clock_type = std::chrono::steady_clock;

struct bench_serve_options {
    model_flags      model;
    int              n_gen    = 32;  // completion tokens per request (the end token is ignored)
    int              requests = 0;   // per level; 0: 4 x concurrency, at least 8
    std::vector<int> levels   = {1, 4, 16};
    int              steps    = 32;  // decode steps for the batched / one-at-a-time ratio
};

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Decode tok/s of B sequences: one batched step per token for all of them, against each
// sequence stepped alone. The same engine, sessions and tokens; best of 3.
void decode_ratio(engine & e, const model_flags & mf, int batch, int steps) {
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
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<session *> group;
        for (int i = 0; i < batch; ++i) {
            seqs[i]->reset();
            const int32_t prompt[4] = {1, (7 * i + 3) % V, (11 * i + 5) % V, (13 * i + 7) % V};
            seqs[i]->eval(prompt);
            group.push_back(seqs[i].get());
        }
        std::vector<int32_t>             tokens(batch);
        const engine::expert_use_summary use0 = e.expert_use();
        auto                             t0   = clock_type::now();
        for (int s = 0; s < steps; ++s) {
            for (int i = 0; i < batch; ++i) {
                tokens[i] = argmax(seqs[i]->logits());
            }
            decode_batch(group, tokens);
        }
        best_batched                          = std::max(best_batched, batch * steps / seconds_since(t0));
        const engine::expert_use_summary use1 = e.expert_use();
        experts_per_layer_step                = static_cast<double>(use1.experts - use0.experts) /
                                 static_cast<double>(std::max<uint64_t>(1, use1.layer_passes - use0.layer_passes));
        expert_bytes_per_token = static_cast<double>(use1.bytes - use0.bytes) / (batch * steps);

        for (int i = 0; i < batch; ++i) {
            seqs[i]->reset();
            const int32_t prompt[4] = {1, (7 * i + 3) % V, (11 * i + 5) % V, (13 * i + 7) % V};
            seqs[i]->eval(prompt);
        }
        t0 = clock_type::now();
        for (int s = 0; s < steps; ++s) {
            for (int i = 0; i < batch; ++i) {
                const int32_t one[1] = {argmax(seqs[i]->logits())};
                seqs[i]->eval(one);
            }
        }
        best_single = std::max(best_single, batch * steps / seconds_since(t0));
    }
    fmt::print("| {:>5} | {:>6} | {:>16.1f} | {:>19.1f} | {:>5.2f}x | {:>18.2f} | {:>16.2f} |\n", batch, steps,
               best_batched, best_single, best_batched / best_single, experts_per_layer_step,
               expert_bytes_per_token / (1024.0 * 1024.0));
}

struct level_result {
    int                 done = 0, failed = 0;
    int64_t             prompt_tokens = 0, completion_tokens = 0;
    std::vector<double> latency_ms;
    double              seconds = 0.0;
};

level_result drive(int port, const std::string & model, int concurrency, int requests, int n_gen) {
    level_result     r;
    std::mutex       mu;
    std::atomic<int> next{0};
    const auto       t0     = clock_type::now();
    const auto       client = [&](int id) {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(300, 0);
        for (int i = next++; i < requests; i = next++) {
            // Different prompts per request, as independent users would send.
            const nlohmann::json body = {
                {"model", model},
                {"prompt",
                 fmt::format("def function_{}_{}(items):\n    \"\"\"Return the sorted items.\"\"\"\n", id, i)},
                {"max_tokens", n_gen},
                {"temperature", 0.7},
                {"seed", i}};
            const auto      q0  = clock_type::now();
            auto            res = c.Post("/v1/completions", body.dump(), "application/json");
            const double    ms  = seconds_since(q0) * 1000.0;
            std::lock_guard lock(mu);
            if (!res || res->status != 200) {
                ++r.failed;
                continue;
            }
            const nlohmann::json j = nlohmann::json::parse(res->body);
            r.prompt_tokens += j["usage"]["prompt_tokens"].get<int64_t>();
            r.completion_tokens += j["usage"]["completion_tokens"].get<int64_t>();
            r.latency_ms.push_back(ms);
            ++r.done;
        }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < concurrency; ++i) {
        threads.emplace_back(client, i);
    }
    for (std::thread & t : threads) {
        t.join();
    }
    r.seconds = seconds_since(t0);
    std::sort(r.latency_ms.begin(), r.latency_ms.end());
    return r;
}

double percentile(const std::vector<double> & sorted, double p) {
    if (sorted.empty()) {
        return 0.0;
    }
    const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5));
    return sorted[i];
}

void run(bench_serve_options & o) {
    if (o.n_gen < 1 || o.levels.empty()) {
        fail("bench-serve: -n must be at least 1 and --levels not empty");
    }
    engine    e(make_engine_options(o.model));
    const int max_level = *std::max_element(o.levels.begin(), o.levels.end());
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
    for (int b : batches) {
        decode_ratio(e, o.model, b, o.steps);
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

    fmt::print("\nServer over loopback (--parallel {}; /v1/completions, {} tokens each)\n\n", max_level, o.n_gen);
    fmt::print("| concurrency | requests | total tok/s | completion tok/s | p50 ms | p99 ms | failed |\n");
    fmt::print("|------------:|---------:|------------:|-----------------:|-------:|-------:|-------:|\n");
    drive(port, srv.model_id(), 1, 2, o.n_gen);  // warm-up
    for (int c : o.levels) {
        const int          n = o.requests > 0 ? o.requests : std::max(8, 4 * c);
        const level_result r = drive(port, srv.model_id(), c, n, o.n_gen);
        fmt::print("| {:>11} | {:>8} | {:>11.1f} | {:>16.1f} | {:>6.0f} | {:>6.0f} | {:>6} |\n", c, r.done,
                   static_cast<double>(r.prompt_tokens + r.completion_tokens) / r.seconds,
                   static_cast<double>(r.completion_tokens) / r.seconds, percentile(r.latency_ms, 0.5),
                   percentile(r.latency_ms, 0.99), r.failed);
        std::fflush(stdout);
    }
    srv.stop();
    serving.join();
}

}  // namespace

void add_bench_serve_command(CLI::App & app) {
    auto   o   = std::make_shared<bench_serve_options>();
    auto * cmd = app.add_subcommand("bench-serve", "throughput and latency of `serve` at several concurrency levels");
    add_model_flags(cmd, o->model);
    cmd->add_option("-n,--n-gen", o->n_gen, "completion tokens per request")->default_val(32);
    cmd->add_option("--requests", o->requests, "requests per level (0: 4 x concurrency, at least 8)")->default_val(0);
    cmd->add_option("--levels", o->levels, "concurrency levels")->delimiter(',')->default_str("1,4,16");
    cmd->add_option("--steps", o->steps, "decode steps of the batched / one-at-a-time comparison")->default_val(32);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
