// The predictors by name (--predictor), apart from their interface, so that options and the
// engine's API need no more than this.
#pragma once

#include <string_view>

namespace sluice {

enum class predictor_kind {
    NONE,         // load on demand: the baseline
    CROSS_LAYER,  // Fate: the next layer's gate applied to this layer's residual stream
    HISTORY,      // the experts this request used so far (MoE-Infinity's activation history)
    FREQUENCY,    // static popularity from calibration
    PREGATE,      // a calibrated linear map to the next layer's router logits
    ORACLE,       // the true routing, replayed from a trace: the upper bound
};

predictor_kind   parse_predictor(std::string_view name);  // throws listing the names
std::string_view name_of(predictor_kind k);

}  // namespace sluice
