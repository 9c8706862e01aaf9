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
    int64_t             n_ctx       = 256;  // tokens per forward pass (each chunk a fresh session)
    int                 guess_count = 0;    // experts per guess; 0: twice the experts a token uses
    const calibration * calib       = nullptr;
};

std::vector<trace_token> record_trace(engine & e, std::span<const int32_t> tokens, const trace_options & opt);

}  // namespace sluice
