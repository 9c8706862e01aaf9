// `sluice run`: generate text from a prompt, streaming it as it is produced, then one stats
// line on stderr (load time, prompt and generation speed, peak RSS).

#include "cli_common.h"
#include "commands.h"
#include "util/error.h"
#include "util/memory_stats.h"

#include <fmt/format.h>

#include <cstdio>

namespace sluice::cli {
namespace {

struct run_options {
    model_flags    model;
    std::string    ids;
    int32_t        n_predict  = 128;
    bool           ignore_eos = false;
    sampler_params sampling;
};

void run(const run_options & o) {
    engine  e(make_engine_options(o.model));
    session s(e, make_session_options(o.model));
    const std::vector<int32_t> prompt = parse_ids(o.ids);
    if (prompt.empty()) {
        fail("run: the prompt is empty (give --ids)");
    }
    sampler          pick(o.sampling);
    generate_options g;
    g.n_predict  = o.n_predict;
    g.ignore_eos = o.ignore_eos;
    if (auto eos = e.file().get_u32("tokenizer.ggml.eos_token_id")) {
        g.stop_tokens.push_back(static_cast<int32_t>(*eos));
    }
    const generate_stats st = s.generate(prompt, g, pick, [](int32_t id) {
        fmt::print("{} ", id);
        std::fflush(stdout);
        return true;
    });
    fmt::print("\n");
    fmt::print(stderr, "load {:.0f} ms | prompt {} tokens, {:.1f} tok/s | generated {} tokens, {:.1f} tok/s | peak RSS {}\n",
               e.load_ms(), st.prompt_tokens, st.prompt_tokens / (st.prompt_ms / 1000.0), st.generated_tokens,
               st.generated_tokens / (st.generate_ms / 1000.0), human_bytes(peak_rss_bytes()));
}

}  // namespace

void add_run_command(CLI::App & app) {
    auto  o   = std::make_shared<run_options>();
    auto * cmd = app.add_subcommand("run", "generate text from a prompt");
    add_model_flags(cmd, o->model);
    cmd->add_option("--ids", o->ids, "prompt as token ids, e.g. 1,629,282");
    cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1: until the context is full)")->default_val(128);
    cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating after an end-of-generation token");
    cmd->add_option("--temp", o->sampling.temperature, "temperature (0: greedy)")->default_val(0.8f);
    cmd->add_option("--top-k", o->sampling.top_k, "keep the k most likely tokens (0: all)")->default_val(40);
    cmd->add_option("--top-p", o->sampling.top_p, "nucleus sampling mass (1: off)")->default_val(0.95f);
    cmd->add_option("--min-p", o->sampling.min_p, "drop tokens below min-p x the top probability (0: off)")->default_val(0.05f);
    cmd->add_option("--repeat-penalty", o->sampling.repeat_penalty, "penalty for recent tokens (1: off)")->default_val(1.0f);
    cmd->add_option("--repeat-last-n", o->sampling.repeat_last_n, "how many recent tokens are penalised")->default_val(64);
    cmd->add_option("-s,--seed", o->sampling.seed, "random seed (same seed, same text)")->default_val(0);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
