#include "tools/route_trace.h"

#include "experts/predict/predictor.h"
#include "tools/chunked_eval.h"

#include <algorithm>

namespace sluice {
namespace {

// Records each token's routing and, from the residual stream entering each block's FFN, the
// guesses of the predictors for the next MoE layer.
struct trace_observer final : forward_observer {
    trace_observer(std::vector<trace_token> & t, const expert_store & s,
                   std::vector<std::unique_ptr<expert_predictor>> & g, int c)
        : tokens(t), store(s), guessers(g), count(c) {}

    void on_routing(int layer, int64_t position, std::span<const int32_t> experts, std::span<const float> weights,
                    std::span<const float>) override {
        trace_layer & l = tokens[base + position].layers_by_block(layer);
        l.experts.assign(experts.begin(), experts.end());
        l.weights.assign(weights.begin(), weights.end());
    }

    void on_ffn_input(int layer, const float * x, std::span<const int64_t> positions) override {
        int target = layer + 1;
        while (target < store.n_layer() && !store.has_experts(target)) {
            ++target;
        }
        if (target >= store.n_layer()) {
            return;
        }
        for (size_t t = 0; t < positions.size(); ++t) {
            trace_layer & tl = tokens[base + positions[t]].layers_by_block(target);
            for (auto & g : guessers) {
                guess.clear();
                g->predict(layer, x + t * store.n_embd(), positions.subspan(t, 1), target, count, guess);
                tl.guess[std::string(name_of(g->kind()))] = guess;
            }
        }
    }

    std::vector<trace_token> &                       tokens;
    const expert_store &                             store;
    std::vector<std::unique_ptr<expert_predictor>> & guessers;
    int                                              count;
    int64_t                                          base = 0;  // the chunk's first token
    std::vector<int32_t>                             guess;
};

}  // namespace

std::vector<trace_token> record_trace(engine & e, std::span<const int32_t> tokens, const trace_options & opt) {
    const expert_store & store = e.net().experts();
    const int            L     = store.n_layer();
    const int count = opt.guess_count > 0 ? opt.guess_count : 2 * static_cast<int>(e.hparams().n_expert_used);

    std::vector<trace_token> out(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        out[i].pos   = static_cast<int64_t>(i);
        out[i].token = tokens[i];
        for (int l = 0; l < L; ++l) {
            if (store.has_experts(l)) {
                out[i].layers_by_block(l);
            }
        }
    }

    predictor_context pc;
    pc.routers  = e.net().routers();
    pc.mm       = &e.runner();
    pc.calib    = opt.calib;
    pc.n_expert = store.n_expert();
    pc.n_embd   = store.n_embd();
    std::vector<std::unique_ptr<expert_predictor>> guessers;
    guessers.push_back(make_predictor(predictor_kind::CROSS_LAYER, pc));
    if (opt.calib != nullptr) {
        guessers.push_back(make_predictor(predictor_kind::PREGATE, pc));
    }

    trace_observer observer(out, store, guessers, count);
    session        s(e, opt.session);
    run_in_chunks(s, opt.session.n_batch, tokens, "trace", [&](size_t at) {
        observer.base = static_cast<int64_t>(at);  // positions count from 0 in each chunk
        return &observer;
    });
    return out;
}

}  // namespace sluice
