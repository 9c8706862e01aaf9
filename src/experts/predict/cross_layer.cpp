// Cross-layer gate prediction (Fate): the residual stream changes little from one block to
// the next, so the next layer's own router, applied to this layer's stream normalised as
// the next layer would, ranks its experts nearly as it will. Costs one router product
// (n_expert x n_embd) per predicted layer.
#include "experts/predict/predictor.h"
#include "experts/predict/predictors.h"
#include "util/error.h"

namespace sluice {
namespace {

class cross_layer_predictor final : public expert_predictor {
  public:
    explicit cross_layer_predictor(const predictor_context & ctx) : ctx_(ctx) {
        if (ctx_.mm == nullptr) {
            fail("the cross-layer predictor needs the matrix runner");
        }
    }

    predictor_kind kind() const override { return predictor_kind::CROSS_LAYER; }

    void predict(int /*layer*/, const float * x, std::span<const int64_t> positions, int target, int count,
                 std::vector<int32_t> & out) override {
        const auto     n = static_cast<int64_t>(positions.size());
        const router & r = ctx_.routers[target];
        const int64_t  d = ctx_.n_embd;
        const int      E = ctx_.n_expert;
        h_.resize(static_cast<size_t>(n * d));
        scores_.resize(static_cast<size_t>(n * E));
        rms_normalize(x, h_.data(), n, d, r.eps);
        if (r.norm != nullptr) {
            for (int64_t t = 0; t < n; ++t) {
                for (int64_t i = 0; i < d; ++i) {
                    h_[t * d + i] *= r.norm[i];
                }
            }
        }
        r.logits(h_.data(), n, *ctx_.mm, scores_.data());
        r.ranking_scores(scores_.data(), n);
        vote_top(scores_.data(), n, E, count, out);
    }

  private:
    predictor_context  ctx_;
    std::vector<float> h_, scores_;
};

}  // namespace

std::unique_ptr<expert_predictor> make_cross_layer_predictor(const predictor_context & ctx) {
    return std::make_unique<cross_layer_predictor>(ctx);
}

}  // namespace sluice
