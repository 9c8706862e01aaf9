// `sluice plot`: SVG pictures of routing traces (`sluice trace`), profiles (`sluice profile`)
// and streaming-cache counters (`--stats-json`). Each function checks its input and throws
// sluice::error naming what is missing; the SVG comes from tools/svg.h.
#pragma once

#include "experts/trace.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace sluice {

enum class trace_plot {
    HEATMAP,        // layer x expert: tokens that chose each expert
    COACTIVATION,   // expert x expert in one layer: tokens that chose both
    LAYER_OVERLAP,  // per MoE layer: share of its experts whose ids the previous MoE layer also chose
    RECALL,         // per MoE layer: share of its experts the trace's predictor guesses named
};

// "heatmap", "coactivation", "layer-overlap", "recall"; throws listing them.
trace_plot parse_trace_plot(std::string_view name);

// `layer` picks the layer of COACTIVATION (-1: the trace's first MoE layer); `source` names the
// trace in the title.
std::string plot_trace(const routing_trace & t, trace_plot kind, int layer, const std::string & source);

// A sluice.profile.v1 document: layer x expert heat map of log_ratio (red: specific to A).
std::string plot_profile(const nlohmann::json & profile);

// A --stats-json document: hits, late and misses per layer, stacked (totals of the run: the
// file has no time series).
std::string plot_stats(const nlohmann::json & stats);

}  // namespace sluice
