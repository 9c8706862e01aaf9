// An expert source that passes everything to another one and shows the residual stream
// entering each block's FFN to a callback, with the rows' absolute positions. Calibration
// and traces use it to see what the predictors see, without touching the forward pass.
#pragma once

#include "experts/expert_source.h"

#include <functional>

namespace sluice {

class residual_tap final : public expert_source {
  public:
    using callback = std::function<void(int layer, const float * x, int64_t n, int64_t pos0)>;

    residual_tap(expert_source & inner, callback cb) : inner_(inner), cb_(std::move(cb)) {}

    void acquire(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out) override {
        inner_.acquire(layer, ids, out);
    }
    int  max_acquire(int layer) const override { return inner_.max_acquire(layer); }
    void on_ffn_input(int layer, const float * x, int64_t n) override {
        if (layer <= last_layer_) {  // a new forward pass
            pos0_ += n_;
        }
        last_layer_ = layer;
        n_          = n;
        cb_(layer, x, n, pos0_);
        inner_.on_ffn_input(layer, x, n);
    }

    // Positions count from 0 again (a new sequence).
    void restart() {
        last_layer_ = 1 << 30;
        pos0_       = 0;
        n_          = 0;
    }

  private:
    expert_source & inner_;
    callback        cb_;
    int             last_layer_ = 1 << 30;
    int64_t         pos0_       = 0;
    int64_t         n_          = 0;
};

}  // namespace sluice
