// How the tools that observe a forward pass (calibrate, trace) run their text: in a session
// made as `run` makes one (its KV cache type and batch size), so the routing they see is
// the routing `run` computes.
#pragma once

#include "engine/engine.h"

#include <cstdint>
#include <functional>
#include <span>

namespace sluice {

// Runs tokens through s in chunks of its context, each from an empty cache, n_batch tokens
// per forward pass (as session::eval cuts them), with a progress bar labelled `label` on a
// terminal. before_chunk(at) is called with the index of each chunk's first token and
// returns the observer for that chunk.
void run_in_chunks(session & s, int64_t n_batch, std::span<const int32_t> tokens, const char * label,
                   const std::function<forward_observer *(size_t)> & before_chunk);

}  // namespace sluice
