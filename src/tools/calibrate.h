// `sluice calibrate`: run a model over sample text and measure what the streaming cache's
// static predictors need: how often each expert is chosen, and a least-squares map per MoE
// layer from the previous block's residual stream to this layer's router logits (pregate).
// A held-out tail of the text checks that the map predicts better than the cross-layer
// guess it starts from.
#pragma once

#include "engine/engine.h"
#include "experts/calibration.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

struct calibrate_options {
    // The session the text runs in, as `run` would make it (KV cache type, batch size); the
    // text is cut into chunks of its context, each run from an empty cache.
    session_options session;
    double          holdout = 0.2;   // share of tokens kept out of the fit to evaluate it
    double          ridge   = 1e-2;  // regularisation, relative to the mean squared input norm
    int             extra   = 2;     // the recall reported is of the top k + extra guesses
};

struct calibrate_layer_report {
    int    layer              = 0;
    double cross_layer_recall = 0.0;    // held-out
    double pregate_recall     = 0.0;    // held-out
    bool   used               = false;  // the map was kept (it beat the cross-layer guess)
};

struct calibrate_report {
    int64_t                             tokens     = 0;
    int64_t                             fit_tokens = 0;
    std::vector<calibrate_layer_report> layers;
    // Per block (dense ones 1): how much its routed experts move the residual stream, the mean
    // over tokens of sum_j w_j |y_j| / |x| (x: the stream entering the FFN, y_j: expert j's
    // output), divided by the mean over MoE layers. MoDES's layer importance for --moe-skip:
    // a layer that matters more than average skips fewer experts.
    std::vector<double> layer_importance;
};

calibration calibrate(engine & e, std::span<const int32_t> tokens, const calibrate_options & opt,
                      calibrate_report & report);

}  // namespace sluice
