// The pregate predictor: a linear map per MoE layer from the residual stream one block
// earlier to this layer's router logits, fitted on calibration text (`sluice calibrate`).
// It starts from the cross-layer guess (the map is fitted as a correction to it), so it
// learns how the stream drifts across the block between. Deeper targets than the next MoE
// layer fall back to the cross-layer guess.
#include "experts/predict/predictors.h"
#include "util/error.h"

namespace sluice {
namespace {

class pregate_predictor final : public expert_predictor {
  public:
    explicit pregate_predictor(const predictor_context & ctx) : ctx_(ctx), fallback_(make_cross_layer_predictor(ctx)) {
        if (ctx_.calib == nullptr) {
            fail("the pregate predictor needs a calibration file (--calibration; make one with `sluice calibrate`)");
        }
    }

    predictor_kind kind() const override { return predictor_kind::PREGATE; }

    void predict(int layer, const float * x, std::span<const int64_t> positions, int target, int count,
                 std::vector<int32_t> & out) override {
        const auto          n = static_cast<int64_t>(positions.size());
        const weight_matrix w = ctx_.calib->pregate_matrix(target);
        if (w.data == nullptr || !adjacent(layer, target)) {
            fallback_->predict(layer, x, positions, target, count, out);
            return;
        }
        const int64_t d = ctx_.n_embd;
        const int     E = ctx_.n_expert;
        h_.resize(static_cast<size_t>(n * d));
        scores_.resize(static_cast<size_t>(n * E));
        rms_normalize(x, h_.data(), n, d, ctx_.routers[target].eps);
        ctx_.mm->matmul(w, h_.data(), n, scores_.data());
        const std::vector<float> & b = ctx_.calib->pregate_bias[target];
        for (int64_t t = 0; t < n; ++t) {
            for (int e = 0; e < E; ++e) {
                scores_[t * E + e] += b[e];
            }
        }
        ctx_.routers[target].ranking_scores(scores_.data(), n);  // the fitted bias holds the logit bias
        vote_top(scores_.data(), n, E, count, out);
    }

  private:
    // The map was fitted from the block right before `target`.
    bool adjacent(int layer, int target) const { return layer + 1 == target; }

    predictor_context                 ctx_;
    std::unique_ptr<expert_predictor> fallback_;
    std::vector<float>                h_, scores_;
};

}  // namespace

std::unique_ptr<expert_predictor> make_pregate_predictor(const predictor_context & ctx) {
    return std::make_unique<pregate_predictor>(ctx);
}

}  // namespace sluice
