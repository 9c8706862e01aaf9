// `sluice perplexity -m M -f FILE [-c 256]`: perplexity over a text the way llama.cpp's
// perplexity tool computes it. The text is tokenized once (BOS first when the model adds
// one) and cut into chunks of n_ctx tokens; each chunk starts from an empty cache with its
// first token replaced by BOS, and only the second half of each chunk is scored, so every
// scored token sees at least n_ctx/2 tokens of context.

#include "cli_common.h"
#include "commands.h"
#include "util/error.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace sluice::cli {
namespace {

struct perplexity_options {
    model_flags model;
    std::string file;
    int64_t     max_chunks = 0;
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
    if (o.model.ctx <= 0) {
        o.model.ctx = 256;
    }
    if (o.model.ctx < 8) {
        fail("perplexity: -c must be at least 8");
    }
    engine                     e(make_engine_options(o.model));
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
    fmt::print(stderr, "{}: {} tokens, {} chunks of {}, scoring the second half of each\n", o.file, tokens.size(),
               n_chunk, n_ctx);

    const int64_t V     = e.hparams().n_vocab;
    const int64_t first = n_ctx / 2;
    double        total = 0.0;
    int64_t       count = 0;
    const auto    t0    = std::chrono::steady_clock::now();
    for (int64_t c = 0; c < n_chunk; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
        if (tok.add_bos() && tok.bos() >= 0) {
            chunk[0] = tok.bos();
        }
        session                  s(e, make_session_options(o.model));
        const std::vector<float> logits = s.eval_all(chunk);
        for (int64_t j = first; j < n_ctx - 1; ++j) {
            total += nll(logits.data() + j * V, V, chunk[j + 1]);
            ++count;
        }
        fmt::print("[{}]{:.4f}{}", c + 1, std::exp(total / count), c + 1 == n_chunk ? "\n" : ",");
        std::fflush(stdout);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("Final estimate: PPL = {:.4f} (mean NLL {:.4f} nats over {} tokens)\n", std::exp(total / count),
               total / count, count);
    fmt::print(stderr, "{:.1f} s, {:.1f} tokens/s\n", secs, static_cast<double>(n_chunk * n_ctx) / secs);
    report_streaming(e, o.model);
}

}  // namespace

void add_perplexity_command(CLI::App & app) {
    auto   o   = std::make_shared<perplexity_options>();
    auto * cmd = app.add_subcommand("perplexity", "perplexity of the model over a text file (llama.cpp's method)");
    add_model_flags(cmd, o->model);
    cmd->add_option("-f,--file", o->file, "text file")->required();
    cmd->add_option("--chunks", o->max_chunks, "score at most this many chunks (0: all)");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
