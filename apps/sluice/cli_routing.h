// The routing-control flags of run, bench, perplexity, logits and serve (--moe-top-k,
// --moe-top-p, --moe-skip, --expert-mask, --expert-force, --expert-steer), and the line a
// run that changes routing prints: the experts it used and the bytes they cost.
#pragma once

#include "engine/engine.h"

#include <CLI/CLI.hpp>

#include <memory>

namespace sluice::cli {

void add_routing_flags(CLI::App * cmd, routing_request & r);

// The controls the flags ask for, checked against the model; nullptr when none is given.
std::shared_ptr<const routing_controls> make_routing(const engine & e, const routing_request & r);

// With controls: "routing: top-k 4; 4.00 experts/token/layer (file: 8), 1.2 MiB of expert
// weights per token (file: 2.4 MiB)" on stderr. Nothing without.
void report_routing(const engine & e, const routing_controls * controls, const routing_tally & t);

}  // namespace sluice::cli
