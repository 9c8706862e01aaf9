// `sluice prune -m M -f DEMOS.txt --keep N|P% -o OUT.gguf`: keep, in every MoE layer, the
// experts that contribute most on the demonstrations (src/tools/prune.h), and write a
// smaller GGUF that any loader of the architecture reads.

#include "cli_common.h"
#include "commands.h"
#include "tools/prune.h"
#include "util/error.h"
#include "util/progress.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <filesystem>

namespace sluice::cli {
namespace {

struct prune_options {
    model_flags model;
    std::string demos;
    std::string keep;
    std::string out;
    std::string split_max_size;
};

// "N" experts or "P%" of them, at least one.
int parse_keep(const std::string & s, int n_expert) {
    try {
        size_t used = 0;
        if (!s.empty() && s.back() == '%') {
            const double p = std::stod(s.substr(0, s.size() - 1), &used);
            if (used + 1 != s.size() || !(p > 0.0 && p <= 100.0)) {
                throw std::invalid_argument(s);
            }
            return std::max(1, static_cast<int>(std::lround(p / 100.0 * n_expert)));
        }
        const int n = std::stoi(s, &used);
        if (used != s.size() || n < 1 || n > n_expert) {
            throw std::invalid_argument(s);
        }
        return n;
    } catch (const std::exception &) {
        fail("--keep '{}': expected a number of experts 1..{} or a percentage like 50%", s, n_expert);
    }
}

void run(prune_options & o) {
    if (std::filesystem::exists(o.out) && std::filesystem::equivalent(o.out, o.model.model)) {
        fail("prune: -o would overwrite the model it reads");
    }
    const uint64_t             split = split_max_bytes(o.split_max_size);
    engine                     e(make_engine_options(o.model));
    const model_hparams &      hp     = e.hparams();
    const int                  keep   = parse_keep(o.keep, static_cast<int>(hp.n_expert));
    const std::vector<int32_t> tokens = e.require_tokenizer().encode(read_text_file(o.demos), true, false);
    if (tokens.size() < 2) {
        fail("prune: {} has no text to score experts on", o.demos);
    }
    const int64_t n_ctx = o.model.ctx > 0 ? o.model.ctx : std::min<int64_t>(hp.n_ctx_train, 512);
    expert_scores s;
    {
        const auto   n_chunk = (static_cast<int64_t>(tokens.size()) + n_ctx - 1) / n_ctx;
        progress_bar bar("scoring experts", static_cast<uint64_t>(n_chunk));
        s = score_experts(e, tokens, n_ctx, [&](int64_t done, int64_t) { bar.update(static_cast<uint64_t>(done)); });
    }
    const auto                     kept  = choose_experts(s, keep);
    const std::vector<std::string> files = write_pruned_model(e.file(), hp, kept, o.out, split);

    fmt::print("scored {} experts x {} MoE layers on {} tokens of {}; kept {} per layer\n", hp.n_expert,
               std::count_if(kept.begin(), kept.end(), [](const auto & k) { return !k.empty(); }), s.tokens, o.demos,
               keep);
    for (size_t l = 0; l < kept.size(); ++l) {
        if (kept[l].empty()) {
            continue;
        }
        double total = 0.0, share = 0.0;
        for (double v : s.score[l]) {
            total += v;
        }
        for (int32_t x : kept[l]) {
            share += s.score[l][x];
        }
        fmt::print("  layer {:2}: keeps {:5.1f}% of the contribution; experts {}\n", l,
                   total > 0.0 ? 100.0 * share / total : 0.0, fmt::join(kept[l], ","));
    }
    fmt::print("wrote {} ({} -> {})\n", written_files(files), human_bytes(e.file().total_size()),
               human_bytes(written_bytes(files)));
}

}  // namespace

void add_prune_command(CLI::App & app) {
    auto   o   = std::make_shared<prune_options>();
    auto * cmd = app.add_subcommand(
        "prune", "keep the experts that contribute most on demonstration text (EASY-EP) and write a smaller GGUF");
    add_model_flags(cmd, o->model);
    cmd->add_option("-f,--file", o->demos, "demonstration text of the domain to keep")->required();
    cmd->add_option("--keep", o->keep, "experts kept per MoE layer: N, or P% of them")->required();
    cmd->add_option("-o,--output", o->out, "output GGUF file")->required();
    add_split_flag(cmd, o->split_max_size);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
