// Routing traces: per token and MoE layer, the experts chosen, their weights and what the
// predictors guessed for that layer one block earlier. `sluice trace` writes them as JSON
// lines, `sluice simulate` and the oracle predictor read them.
//
//   {"pos": 3, "token": 271, "layers": [{"layer": 0, "experts": [5, 1], "weights": [0.6, 0.4],
//     "guess": {"cross-layer": [5, 7, 1, 2], "pregate": [...]}}, ...]}
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sluice {

struct trace_layer {
    int                                         layer = 0;
    std::vector<int32_t>                        experts;
    std::vector<float>                          weights;
    std::map<std::string, std::vector<int32_t>> guess;  // predictor name -> experts, best first
};

struct trace_token {
    int64_t                  pos   = 0;
    int32_t                  token = -1;
    std::vector<trace_layer> layers;  // MoE layers only, in order

    // The entry of block `layer` (which must be a MoE layer of the trace).
    trace_layer & layers_by_block(int layer) {
        for (trace_layer & l : layers) {
            if (l.layer == layer) {
                return l;
            }
        }
        trace_layer fresh;
        fresh.layer = layer;
        return layers.emplace_back(std::move(fresh));
    }
};

struct routing_trace {
    std::vector<trace_token> tokens;

    // Experts of `layer` for the token at `pos`, or nullptr when the trace lacks them.
    const std::vector<int32_t> * experts_at(int64_t pos, int layer) const;

    static routing_trace load(const std::string & path);  // throws naming file and line
};

std::string to_json_line(const trace_token & t);

}  // namespace sluice
