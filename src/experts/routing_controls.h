// Routing controls: what a user changes about the router's decision at inference time, applied
// by router::route() after the router's scores and before the experts run, the same way for
// every architecture (softmax, top-k then softmax, sigmoid with groups).
//
//   a different k (--moe-top-k), a per-token count from the router's confidence (--moe-top-p,
//   DynaMoE), skipping chosen experts of small weight (--moe-skip, MoDES), and per layer and
//   expert: switched off (--expert-mask), forced on (--expert-force), or steered by an offset
//   on the router logit (--expert-steer, Mixture of Tunable Experts).
//
// Every control but a zero offset changes the model's output: `sluice perplexity --kl-base`
// measures by how much.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct layer_routing_controls {
    // [n_expert] added to the router logits before scoring (steering), or empty.
    std::vector<float> logit_offset;
    // [n_expert] 1: never chosen; its logit is -inf, so it leaves softmax's denominator, as
    // if the expert were not in the file. Empty: none.
    std::vector<uint8_t> masked;
    // [n_expert] NaN: not forced. Otherwise chosen first, ahead of the router's ranking; a
    // finite weight >= 0 replaces its routed weight (after renormalisation and scale), and a
    // negative value (-1) keeps the routed weight. Empty: none.
    std::vector<float> force_weight;

    bool empty() const { return logit_offset.empty() && masked.empty() && force_weight.empty(); }
    bool is_masked(int e) const { return !masked.empty() && masked[e] != 0; }
    bool is_forced(int e) const { return !force_weight.empty() && !std::isnan(force_weight[e]); }
};

struct routing_controls {
    int   top_k = 0;     // > 0: experts per token instead of the file's k
    float top_p = 0.0f;  // in (0, 1]: per token, the fewest experts whose probability reaches it
    int   min_k = 1;     // top-p's bounds on the count
    int   max_k = 0;     // 0: every expert
    // > 0: a chosen expert (not the best, not a forced one) whose weight times its layer's
    // importance is below this is skipped.
    float              skip_threshold = 0.0f;
    std::vector<float> layer_importance;  // [n_layer] for --moe-skip; empty: 1 for every layer
    // > 0 (--moe-prefer-cached): a chosen expert that would have to be read is replaced by the
    // best resident one not chosen whose router score (probability; sigmoid score) is lower by
    // at most this. Needs the source's residency (router::route's `resident`).
    float prefer_cached = 0.0f;

    // Indexed by layer (as in the file); shorter than n_layer (or empty): no per-expert controls
    // for the layers past its end.
    std::vector<layer_routing_controls> layers;

    // Whether anything changes routing (false: router::route() is the file's routing).
    bool                           active() const;
    const layer_routing_controls * layer(int l) const {
        return l >= 0 && static_cast<size_t>(l) < layers.size() && !layers[l].empty() ? &layers[l] : nullptr;
    }
    float importance(int l) const {
        return l >= 0 && static_cast<size_t>(l) < layer_importance.size() ? layer_importance[l] : 1.0f;
    }
    // The most experts one token may use at a layer with n_expert experts and k per token.
    int max_experts(int n_expert, int k) const;
    // One line naming what is set ("top-k 4, mask 3 experts"), for logs; "" when inactive.
    std::string describe() const;
};

// What the router chose, counted while the model runs: per layer the (token, expert) pairs
// and the tokens, so a run can report the average active experts per token and the expert
// bytes they read.
struct routing_tally {
    std::vector<uint64_t> uses;    // [n_layer] experts chosen, summed over tokens
    std::vector<uint64_t> tokens;  // [n_layer] tokens routed

    void add(int layer, int n_used) {
        if (static_cast<size_t>(layer) >= uses.size()) {
            uses.resize(layer + 1);
            tokens.resize(layer + 1);
        }
        uses[layer] += static_cast<uint64_t>(n_used);
        tokens[layer] += 1;
    }
    void add_all(const routing_tally & o) {
        if (o.uses.size() > uses.size()) {
            uses.resize(o.uses.size());
            tokens.resize(o.uses.size());
        }
        for (size_t l = 0; l < o.uses.size(); ++l) {
            uses[l] += o.uses[l];
            tokens[l] += o.tokens[l];
        }
    }
};

// The routing of one token at every MoE layer: experts and their weights as applied.
struct routed_token {
    struct layer_choice {
        int                  layer = 0;
        std::vector<int32_t> experts;
        std::vector<float>   weights;
    };
    std::vector<layer_choice> layers;  // MoE layers in order
};

// What a forward pass's moe_block does with one row's routing: the controls to apply, where
// to count, and where to keep the routing of the row (each row overwrites the previous one of
// the same record, so a prefill leaves its last token's).
struct row_routing {
    const routing_controls * controls = nullptr;
    routing_tally *          tally    = nullptr;
    routed_token *           record   = nullptr;
};

// "layer:expert,..." -> per layer, the experts named; each side is a number, a range a-b or
// `*`; `3-5:2,9` names experts 2 and 9 of layers 3..5 (a term without a colon continues the
// previous term's layers). For --expert-force an expert may carry `=weight`. Throws naming the
// bad term (out of range, malformed, a layer without MoE).
struct expert_ref {
    int   layer  = 0;
    int   expert = 0;
    float weight = -1.0f;  // --expert-force's `=w`; -1: none given
};
std::vector<expert_ref> parse_expert_spec(const std::string & spec, const char * flag, int n_layer, int n_expert,
                                          bool allow_weight);

// The JSON steering file (what `sluice profile` writes, or by hand):
//   {"steer": [{"layer": 3, "expert": 17, "offset": -2.5}, ...], "mask": "SPEC", "force": "SPEC"}
// every key optional. Bounded before it is parsed (1 MiB).
struct steer_file {
    std::vector<expert_ref> steer;  // weight holds the offset
    std::string             mask;
    std::string             force;
};
steer_file read_steer_file(const std::string & path, int n_layer, int n_expert, const char * flag = "--expert-steer");

// The routing flags of the CLI and the server's "sluice" request fields, before they meet a
// model. Empty strings / zeros: not given.
struct routing_request {
    int         top_k         = 0;
    float       top_p         = 0.0f;
    int         min_k         = 0;
    int         max_k         = 0;
    float       skip          = 0.0f;
    float       prefer_cached = 0.0f;
    std::string skip_calibration;  // JSON file {"layer_importance": [...]}
    std::string mask;              // SPEC, or @FILE: the "mask" of a steering file
    std::string force;             // SPEC with optional =weight, or @FILE
    std::string steer;             // steering file
    // Offsets given inline (the server's "expert_steer" array); added to the file's.
    std::vector<expert_ref> steer_offsets;
};

// Validates the request against a model's geometry (n_layer layers, n_expert experts, k per
// token; moe_layer(l): whether layer l routes) and builds the controls. Errors name the flag
// and the value: k above the expert count, p outside (0,1], a layer left without experts.
routing_controls make_routing_controls(const routing_request & req, int n_layer, int n_expert, int k,
                                       const std::vector<bool> & moe_layer);

}  // namespace sluice
