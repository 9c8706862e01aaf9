// Predictors guess which experts a later MoE layer will use, early enough to read them
// from disk while the current layer computes. They only change timing: a wrong guess costs
// a wasted read, never a different result.
#pragma once

#include "experts/calibration.h"
#include "experts/predict/predictor_kind.h"
#include "experts/router.h"
#include "experts/trace.h"
#include "kernels/kernels.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace sluice {

// What predictors may use; each takes what it needs and checks it is there.
struct predictor_context {
    std::span<const router> routers;  // one per block
    matmul_runner *         mm       = nullptr;
    const calibration *     calib    = nullptr;  // frequency, pregate
    const routing_trace *   trace    = nullptr;  // oracle
    int                     n_expert = 0;
    int64_t                 n_embd   = 0;
};

class expert_predictor {
  public:
    virtual ~expert_predictor() = default;

    virtual predictor_kind kind() const = 0;

    // From the residual stream entering block `layer`'s FFN (one row of n_embd per entry of
    // `positions`, each row's position in its sequence), the experts MoE layer `target`
    // (> layer) will likely use, best first: the top `count` of each row, rows merged by
    // votes. Appends to `out`.
    virtual void predict(int layer, const float * x, std::span<const int64_t> positions, int target, int count,
                         std::vector<int32_t> & out) = 0;

    // The experts MoE layer `layer` used for the rows just run (for history).
    virtual void observe(int /*layer*/, std::span<const int32_t> /*experts*/) {}
};

// nullptr for none. Throws when the kind needs a calibration or trace that is missing.
std::unique_ptr<expert_predictor> make_predictor(predictor_kind kind, const predictor_context & ctx);

// Merges per-row rankings: experts ordered by how many rows voted for them, then by their
// summed score. `scores`: n rows of n_expert (higher is better).
void vote_top(const float * scores, int64_t n, int n_expert, int count, std::vector<int32_t> & out);

// y[t] = x[t] / rms(x[t]) (no weights), n rows of `width`.
void rms_normalize(const float * x, float * y, int64_t n, int64_t width, float eps);

}  // namespace sluice
