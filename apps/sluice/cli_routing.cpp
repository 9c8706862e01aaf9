#include "cli_routing.h"

#include "cli_common.h"
#include "util/error.h"

#include <fmt/format.h>

namespace sluice::cli {

void add_routing_flags(CLI::App * cmd, routing_request & r) {
    const char * g = "Routing controls (lossy: measure with perplexity --kl-base)";
    cmd->add_option("--moe-top-k", r.top_k, "use N experts per token instead of the file's k")->group(g);
    cmd->add_option("--moe-top-p", r.top_p,
                    "per token, the fewest experts whose router probability (renormalised over the experts that "
                    "may be chosen) reaches P, in (0, 1]; 1: every expert")
        ->group(g);
    cmd->add_option("--moe-min-k", r.min_k, "--moe-top-p uses at least this many experts (default 1)")->group(g);
    cmd->add_option("--moe-max-k", r.max_k, "--moe-top-p uses at most this many experts (default: all)")->group(g);
    cmd->add_option("--moe-skip", r.skip,
                    "skip a chosen expert (not the best) whose routing weight x its layer's importance is below T")
        ->group(g);
    cmd->add_option("--moe-skip-calibration", r.skip_calibration,
                    "JSON file {\"layer_importance\": [one number per layer]} scaling --moe-skip (default: 1 each)")
        ->group(g);
    cmd->add_option("--moe-prefer-cached", r.prefer_cached,
                    "with --expert-budget: use a cached expert instead of a chosen one that must be read when "
                    "its router score is lower by at most MARGIN (a probability, e.g. 0.05)")
        ->group(g);
    cmd->add_option("--expert-mask", r.mask,
                    "switch experts off: layer:expert,... with ranges and * (3:17, *:2, 3-5:2,9), or @FILE for the "
                    "\"mask\" of a steering/profile JSON")
        ->group(g);
    cmd->add_option("--expert-force", r.force,
                    "always use these experts: layer:expert[=weight],... (without =weight: the router's weight), or "
                    "@FILE for its \"force\"")
        ->group(g);
    cmd->add_option("--expert-steer", r.steer,
                    "JSON file adding offsets to router logits: {\"steer\": [{\"layer\": L, \"expert\": E, "
                    "\"offset\": X}], \"mask\": SPEC, \"force\": SPEC} (what `sluice profile` writes)")
        ->group(g);
}

std::shared_ptr<const routing_controls> make_routing(const engine & e, const routing_request & r) {
    if (r.prefer_cached > 0.0f && !e.streaming_stats()) {
        fail("--moe-prefer-cached routes toward the expert cache: it needs --expert-budget");
    }
    if (r.prefer_cached > 0.0f && e.parallel() != nullptr) {
        // Each rank's cache holds other experts: the ranks would route differently.
        fail("--moe-prefer-cached routes toward what this process caches; it cannot be used with --expert-parallel");
    }
    auto c = std::make_shared<routing_controls>(e.make_routing(r));
    if (!c->active()) {
        return nullptr;
    }
    return c;
}

void report_routing(const engine & e, const routing_controls * controls, const routing_tally & t) {
    if (controls == nullptr || !reporting_rank(e)) {
        return;
    }
    const engine::routing_summary s = e.summarize(t);
    fmt::print(stderr,
               "routing: {}; {:.2f} experts/token/layer (file: {}), {} of expert weights per token (file: {})\n",
               controls->describe(), s.experts_per_layer, s.file_k,
               human_bytes(static_cast<uint64_t>(s.expert_bytes_per_token)),
               human_bytes(static_cast<uint64_t>(s.file_expert_bytes)));
}

}  // namespace sluice::cli
