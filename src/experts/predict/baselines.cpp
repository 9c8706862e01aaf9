// The baselines to compare cross-layer prediction with: the history of this stream (after
// MoE-Infinity's expert activation matrix), static popularity, and the oracle. History counts
// decay per token so that a new request's pattern takes over within a few dozen tokens.
#include "experts/predict/predictors.h"
#include "util/error.h"

#include <algorithm>

namespace sluice {
namespace {

class history_predictor final : public expert_predictor {
  public:
    explicit history_predictor(const predictor_context & ctx)
        : n_expert_(ctx.n_expert), counts_(ctx.routers.size(), std::vector<float>(static_cast<size_t>(ctx.n_expert))) {}

    predictor_kind kind() const override { return predictor_kind::HISTORY; }

    void predict(int /*layer*/, const float * /*x*/, std::span<const int64_t> /*positions*/, int target, int count,
                 std::vector<int32_t> & out) override {
        vote_top(counts_[target].data(), 1, n_expert_, count, out);
        // vote_top ranks every expert; drop the ones never seen.
        std::erase_if(out, [&](int32_t e) { return counts_[target][e] <= 0.0f; });
    }

    void observe(int layer, std::span<const int32_t> experts) override {
        std::vector<float> & c = counts_[layer];
        for (float & v : c) {
            v *= decay;
        }
        for (int32_t e : experts) {
            c[e] += 1.0f;
        }
    }

  private:
    static constexpr float          decay = 0.9f;
    int                             n_expert_;
    std::vector<std::vector<float>> counts_;
};

// Static popularity: the experts calibration saw chosen most often, whatever the input.
class frequency_predictor final : public expert_predictor {
  public:
    explicit frequency_predictor(const predictor_context & ctx) {
        if (ctx.calib == nullptr) {
            fail("the frequency predictor needs a calibration file (--calibration; make one with `sluice calibrate`)");
        }
        for (size_t l = 0; l < ctx.routers.size(); ++l) {
            ranked_.push_back(ctx.calib->by_popularity(static_cast<int>(l)));
        }
    }

    predictor_kind kind() const override { return predictor_kind::FREQUENCY; }

    void predict(int, const float *, std::span<const int64_t>, int target, int count,
                 std::vector<int32_t> & out) override {
        const std::vector<int32_t> & r = ranked_[target];
        out.insert(out.end(), r.begin(), r.begin() + std::min<size_t>(static_cast<size_t>(count), r.size()));
    }

  private:
    std::vector<std::vector<int32_t>> ranked_;
};

// Perfect knowledge from a trace of the same text: what a predictor could at best do.
class oracle_predictor final : public expert_predictor {
  public:
    explicit oracle_predictor(const predictor_context & ctx) : trace_(ctx.trace), n_expert_(ctx.n_expert) {
        if (trace_ == nullptr) {
            fail(
                "the oracle predictor needs a routing trace of the same text (--oracle-trace; make one with `sluice "
                "trace`)");
        }
    }

    predictor_kind kind() const override { return predictor_kind::ORACLE; }

    void predict(int, const float *, std::span<const int64_t> positions, int target, int /*count*/,
                 std::vector<int32_t> & out) override {
        std::vector<float> votes(static_cast<size_t>(n_expert_), 0.0f);
        for (int64_t pos : positions) {
            if (const std::vector<int32_t> * e = trace_->experts_at(pos, target)) {
                for (int32_t id : *e) {
                    if (id >= 0 && id < n_expert_) {
                        votes[id] += 1.0f;
                    }
                }
            }
        }
        vote_top(votes.data(), 1, n_expert_, n_expert_, out);
        std::erase_if(out, [&](int32_t e) { return votes[e] <= 0.0f; });
    }

  private:
    const routing_trace * trace_;
    int                   n_expert_;
};

}  // namespace

std::unique_ptr<expert_predictor> make_history_predictor(const predictor_context & ctx) {
    return std::make_unique<history_predictor>(ctx);
}
std::unique_ptr<expert_predictor> make_frequency_predictor(const predictor_context & ctx) {
    return std::make_unique<frequency_predictor>(ctx);
}
std::unique_ptr<expert_predictor> make_oracle_predictor(const predictor_context & ctx) {
    return std::make_unique<oracle_predictor>(ctx);
}

std::unique_ptr<expert_predictor> make_predictor(predictor_kind kind, const predictor_context & ctx) {
    switch (kind) {
        case predictor_kind::NONE:
            return nullptr;
        case predictor_kind::CROSS_LAYER:
            return make_cross_layer_predictor(ctx);
        case predictor_kind::HISTORY:
            return make_history_predictor(ctx);
        case predictor_kind::FREQUENCY:
            return make_frequency_predictor(ctx);
        case predictor_kind::PREGATE:
            return make_pregate_predictor(ctx);
        case predictor_kind::ORACLE:
            return make_oracle_predictor(ctx);
    }
    return nullptr;
}

}  // namespace sluice
