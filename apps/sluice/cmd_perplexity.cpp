// `sluice perplexity -m M -f FILE [-c 256]`: perplexity over a text the way llama.cpp's
// perplexity tool computes it. The text is tokenized once (BOS first when the model adds
// one) and cut into chunks of n_ctx tokens; each chunk starts from an empty cache with its
// first token replaced by BOS, and only the second half of each chunk is scored, so every
// scored token sees at least n_ctx/2 tokens of context.
//
// --kl-base FILE saves the run's log-probabilities at the scored positions; with
// --kl-divergence a later run (a lossy knob: routing controls, a pruned model, --cache-type)
// compares its own against them: KL divergence, top-1 agreement, perplexity next to the base's.

#include "cli_common.h"
#include "cli_parallel.h"
#include "cli_routing.h"
#include "commands.h"
#include "tools/kl_divergence.h"
#include "util/error.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

namespace sluice::cli {
namespace {

struct perplexity_options {
    model_flags     model;
    parallel_flags  parallel;
    routing_request routing;
    std::string     file;
    int64_t         max_chunks = 0;
    std::string     kl_base;
    bool            kl_divergence = false;
};

// -log softmax(logits)[target], in double.
double nll(const float * logits, int64_t n_vocab, int32_t target) {
    float max_l = logits[0];
    for (int64_t v = 1; v < n_vocab; ++v) {
        max_l = std::max(max_l, logits[v]);
    }
    double sum = 0.0;
    for (int64_t v = 0; v < n_vocab; ++v) {
        sum += std::exp(static_cast<double>(logits[v]) - max_l);
    }
    return std::log(sum) - (static_cast<double>(logits[target]) - max_l);
}

void run(perplexity_options & o) {
    if (o.kl_divergence && o.kl_base.empty()) {
        fail("--kl-divergence compares against a saved run: give --kl-base FILE");
    }
    if (o.model.ctx <= 0) {
        o.model.ctx = 256;
    }
    if (o.model.ctx < 8) {
        fail("perplexity: -c must be at least 8");
    }
    ranked_engine              ranked(o.model, o.parallel);
    engine &                   e       = ranked.e;
    const tokenizer &          tok     = e.require_tokenizer();
    const std::vector<int32_t> tokens  = tok.encode(read_text_file(o.file), true, false);
    const int64_t              n_ctx   = o.model.ctx;
    int64_t                    n_chunk = static_cast<int64_t>(tokens.size()) / n_ctx;
    if (o.max_chunks > 0) {
        n_chunk = std::min(n_chunk, o.max_chunks);
    }
    if (n_chunk == 0) {
        fail("perplexity: {} has {} tokens, fewer than one chunk of {} (lower -c)", o.file, tokens.size(), n_ctx);
    }
    if (reporting_rank(e)) {
        fmt::print(stderr, "{}: {} tokens, {} chunks of {}, scoring the second half of each\n", o.file, tokens.size(),
                   n_chunk, n_ctx);
    }

    const int64_t V     = e.hparams().n_vocab;
    const int64_t first = n_ctx / 2;
    double        total = 0.0;
    int64_t       count = 0;
    // The base: saved (without --kl-divergence) or compared against (with).
    const std::span<const int32_t> scored_text(tokens.data(), static_cast<size_t>(n_chunk * n_ctx));
    std::optional<kl_base>         base;
    kl_stats                       kl;
    std::vector<float>             saved, lp(V);
    if (o.kl_divergence) {
        base.emplace(o.kl_base, scored_text, n_ctx, V);
    }
    session_options so = make_session_options(o.model);
    so.routing         = make_routing(e, o.routing);
    routing_tally tally;
    const auto    t0 = std::chrono::steady_clock::now();
    for (int64_t c = 0; c < n_chunk; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
        if (tok.add_bos() && tok.bos() >= 0) {
            chunk[0] = tok.bos();
        }
        session                  s(e, so);
        const std::vector<float> logits = s.eval_all(chunk);
        for (int64_t j = first; j < n_ctx - 1; ++j) {
            total += nll(logits.data() + j * V, V, chunk[j + 1]);
            if (!o.kl_base.empty()) {
                log_softmax(logits.data() + j * V, V, lp.data());
                if (base) {
                    if (count >= base->size()) {
                        fail("--kl-base: '{}' holds {} positions; this run scores more", o.kl_base, base->size());
                    }
                    kl.add(base->row(count), lp.data(), V, chunk[j + 1]);
                } else {
                    saved.insert(saved.end(), lp.begin(), lp.end());
                }
            }
            ++count;
        }
        tally.add_all(s.routing_counts());
        fmt::print("[{}]{:.4f}{}", c + 1, std::exp(total / count), c + 1 == n_chunk ? "\n" : ",");
        std::fflush(stdout);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("Final estimate: PPL = {:.4f} (mean NLL {:.4f} nats over {} tokens)\n", std::exp(total / count),
               total / count, count);
    if (reporting_rank(e)) {
        fmt::print(stderr, "{:.1f} s, {:.1f} tokens/s\n", secs, static_cast<double>(n_chunk * n_ctx) / secs);
    }
    if (base) {
        if (count != base->size()) {
            fail("--kl-base: '{}' holds {} positions, this run scored {} (use the same --chunks)", o.kl_base,
                 base->size(), count);
        }
        fmt::print(
            "KL divergence vs {}: mean {:.6f}, p99 {:.6f} nats; top-1 agreement {:.2f}%; PPL {:.4f} vs "
            "base {:.4f} ({:+.2f}%)\n",
            o.kl_base, kl.mean_kl(), kl.p99_kl(), 100.0 * kl.top1_agree(), kl.ppl(), kl.base_ppl(),
            100.0 * (kl.ppl() / kl.base_ppl() - 1.0));
    } else if (!o.kl_base.empty() && reporting_rank(e)) {  // one writer of the file, rank 0
        save_kl_base(o.kl_base, scored_text, n_ctx, V, saved);
        fmt::print(stderr, "saved the log-probabilities of {} positions to {}\n", count, o.kl_base);
    }
    report_streaming(e, o.model);
    report_routing(e, so.routing.get(), tally);
}

}  // namespace

void add_perplexity_command(CLI::App & app) {
    auto   o   = std::make_shared<perplexity_options>();
    auto * cmd = app.add_subcommand("perplexity", "perplexity of the model over a text file (llama.cpp's method)");
    add_model_flags(cmd, o->model);
    add_parallel_flags(cmd, o->parallel);
    cmd->add_option("-f,--file", o->file, "text file")->required();
    cmd->add_option("--chunks", o->max_chunks, "score at most this many chunks (0: all)");
    cmd->add_option("--kl-base", o->kl_base,
                    "save the log-probabilities of the scored positions to FILE (n_vocab x 4 bytes each); with "
                    "--kl-divergence, compare against them instead");
    cmd->add_flag("--kl-divergence", o->kl_divergence,
                  "report the KL divergence from --kl-base's run (mean, p99), top-1 agreement and both perplexities");
    add_routing_flags(cmd, o->routing);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
