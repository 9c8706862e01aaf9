// `sluice trace`: run a model over text and record, per token and MoE layer, the experts
// chosen, their weights, and what the predictors guessed one block earlier (cross-layer
// always, pregate with a calibration). `sluice simulate` replays the result.
#pragma once

#include "engine/engine.h"
#include "experts/calibration.h"
#include "experts/trace.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

struct trace_options {
    // The session the text runs in, as `run` would make it (KV cache type, batch size); the
    // text is cut into chunks of its context, each run from an empty cache.
    session_options     session;
    int                 guess_count = 0;  // experts per guess; 0: twice the experts a token uses
    const calibration * calib       = nullptr;
};

std::vector<trace_token> record_trace(engine & e, std::span<const int32_t> tokens, const trace_options & opt);

}  // namespace sluice
