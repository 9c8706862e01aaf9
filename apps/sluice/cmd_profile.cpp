// `sluice profile -m M --a A.txt --b B.txt [-o profile.json] [--svg profile.svg] [--top N]`:
// which experts the router prefers on text A over text B (tools/profile.h). Both texts run in
// chunks of -c tokens, each from an empty cache with BOS first, as perplexity does; every
// token's routing counts. Prints the top of the ranking; the JSON's "mask" and "steer" are
// what --expert-mask and --expert-steer read.
#include "cli_common.h"
#include "commands.h"
#include "tools/plot.h"
#include "tools/profile.h"
#include "util/error.h"
#include "util/progress.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace sluice::cli {
namespace {

struct profile_cli {
    model_flags model;
    std::string a, b, output, svg;
    int         top        = 8;
    double      alpha      = 0.5;
    int64_t     max_tokens = 0;
};

void write_file(const std::string & path, const std::string & text, const char * what) {
    std::ofstream out(path);
    if (!out || !(out << text) || !out.flush()) {
        fail("profile: cannot write the {} to '{}'", what, path);
    }
}

void run(profile_cli & o) {
    if (o.model.ctx <= 0) {
        o.model.ctx = 256;
    }
    if (o.model.ctx < 8) {
        fail("profile: -c {} is too small (at least 8 tokens per chunk)", o.model.ctx);
    }
    if (o.max_tokens < 0) {
        fail("profile: --max-tokens {} is negative", o.max_tokens);
    }
    if (o.top < 1) {
        fail("profile: --top {} must be at least 1", o.top);
    }
    if (!(o.alpha > 0.0)) {
        fail("profile: --alpha {} must be positive", o.alpha);
    }
    // Both texts are read before the model loads, so a missing file fails at once.
    const std::string text_a = read_text_file(o.a), text_b = read_text_file(o.b);
    engine            e(make_engine_options(o.model));
    const tokenizer & tok = e.require_tokenizer();
    count_options     opt;
    opt.n_ctx       = o.model.ctx;
    opt.first_token = tok.add_bos() ? tok.bos() : -1;

    const auto count = [&](const std::string & file, const std::string & text) {
        std::vector<int32_t> tokens = tok.encode(text, true, false);
        if (o.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > o.max_tokens) {
            tokens.resize(static_cast<size_t>(o.max_tokens));
        }
        const size_t extra = opt.first_token >= 0 && !tokens.empty() ? 1 : 0;  // the BOS
        if (tokens.size() <= extra) {
            fail("profile: {} has no text (0 tokens)", file);
        }
        progress_bar bar(fmt::format("profile {}", std::filesystem::path(file).filename().string()), tokens.size(),
                         "tokens");
        opt.on_chunk = [&](int64_t done) { bar.update(static_cast<uint64_t>(done)); };
        return count_routing(e, tokens, opt);
    };
    const routing_counts ca = count(o.a, text_a);
    const routing_counts cb = count(o.b, text_b);

    const routing_profile p = compare_routing(ca, cb, o.alpha);
    profile_labels        labels;
    labels.model                   = std::filesystem::path(o.model.model).filename().string();
    labels.file_a                  = o.a;
    labels.file_b                  = o.b;
    labels.top                     = o.top;
    const nlohmann::ordered_json j = profile_json(p, labels);

    fmt::print("A: {} ({} tokens)   B: {} ({} tokens)   chunks of {}\n", o.a, p.n_a, o.b, p.n_b, o.model.ctx);
    fmt::print("log_ratio = log((count_a+{0})/(N_a+{0}*E)) - log((count_b+{0})/(N_b+{0}*E)); p_value: {1}\n", o.alpha,
               profile_test_name);
    fmt::print("{}", profile_table(p, o.top));
    fmt::print("mask: {}\n", profile_mask(p, o.top));
    if (!o.output.empty()) {
        write_file(o.output, j.dump(2) + "\n", "profile");
        fmt::print(stderr, "wrote the profile to {}\n", o.output);
    }
    if (!o.svg.empty()) {
        write_file(o.svg, plot_profile(nlohmann::json::parse(j.dump())), "plot");
        fmt::print(stderr, "wrote the plot to {}\n", o.svg);
    }
    report_streaming(e, o.model);
}

}  // namespace

void add_profile_command(CLI::App & app) {
    auto   o   = std::make_shared<profile_cli>();
    auto * cmd = app.add_subcommand(
        "profile", "which experts the router prefers on text A over text B (log-ratio ranking, z-test; JSON and SVG)");
    cmd->footer(
        "which experts the router prefers on text A over text B: per layer and expert, the share of tokens that "
        "chose it and its mean router weight on each text; ranked by the smoothed log-ratio "
        "log((count_a+alpha)/(N_a+alpha*E)) - log((count_b+alpha)/(N_b+alpha*E)), with a two-sided "
        "two-proportion z-test p-value (tokens treated as independent). Texts run in chunks of -c tokens (default "
        "256), each from an empty cache with BOS first.");
    add_model_flags(cmd, o->model);
    cmd->add_option("--a", o->a, "text A (the behaviour to find experts for)")->required();
    cmd->add_option("--b", o->b, "text B (the contrast)")->required();
    cmd->add_option("-o,--output", o->output, "write the profile as JSON (sluice.profile.v1) to FILE");
    cmd->add_option("--svg", o->svg, "write a layer x expert heat map of the log-ratio to FILE (SVG)");
    cmd->add_option("--top", o->top, "experts in the printed table, the JSON's mask and steer (default 8)");
    cmd->add_option("--alpha", o->alpha, "smoothing count added to every expert (default 0.5)");
    cmd->add_option("--max-tokens", o->max_tokens, "use at most this many tokens of each text (0: all)");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
