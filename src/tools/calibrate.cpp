#include "tools/calibrate.h"

#include "experts/predict/predictor.h"
#include "tensor/quantize.h"
#include "tools/chunked_eval.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unordered_map>

namespace sluice {
namespace {

// Counts each layer's chosen experts and keeps every block's FFN input, RMS-normalised
// without weights, for every token: xs[layer] holds [token][d].
struct calibration_observer final : forward_observer {
    calibration_observer(calibration & c, std::span<const router> r, int64_t d)
        : cal(c), routers(r), n_embd(d), xs(r.size()) {}

    void on_routing(int layer, int64_t, std::span<const int32_t> experts, std::span<const float>,
                    std::span<const float>) override {
        for (int32_t e : experts) {
            cal.counts[layer][e] += 1.0;
        }
    }
    void on_ffn_input(int layer, const float * x, std::span<const int64_t> positions) override {
        auto & norms = x_norm[layer];
        norms.clear();
        for (size_t r = 0; r < positions.size(); ++r) {
            double sq = 0.0;
            for (int64_t c = 0; c < n_embd; ++c) {
                sq += static_cast<double>(x[r * n_embd + c]) * x[r * n_embd + c];
            }
            norms[positions[r]] = std::sqrt(sq);
        }
        rows[layer] += positions.size();
        std::vector<float> & dst = xs[layer];
        const size_t         at  = dst.size();
        const auto           n   = static_cast<int64_t>(positions.size());
        dst.resize(at + static_cast<size_t>(n * n_embd));
        rms_normalize(x, dst.data() + at, n, n_embd, routers[layer].eps);
    }

    void on_expert_output(int layer, int32_t, std::span<const int64_t> positions, std::span<const float> weights,
                          const float * y, int64_t d) override {
        for (size_t r = 0; r < positions.size(); ++r) {
            double sq = 0.0;
            for (int64_t c = 0; c < d; ++c) {
                sq += static_cast<double>(y[r * d + c]) * y[r * d + c];
            }
            const double xn = x_norm[layer].at(positions[r]);
            contribution[layer] += std::abs(static_cast<double>(weights[r])) * std::sqrt(sq) / std::max(xn, 1e-30);
        }
    }

    calibration &                   cal;
    std::span<const router>         routers;
    int64_t                         n_embd;
    std::vector<std::vector<float>> xs;
    // The layer importance: |x| per position of the pass in flight, and the sums.
    std::vector<std::unordered_map<int64_t, double>> x_norm =
        std::vector<std::unordered_map<int64_t, double>>(routers.size());
    std::vector<double>   contribution = std::vector<double>(routers.size());
    std::vector<uint64_t> rows         = std::vector<uint64_t>(routers.size());
};

// Router logits (+ router bias) of `g` for rows already RMS-normalised without weights:
// the norm's weights are folded into the matrix (b0 = router * diag(norm)).
std::vector<float> folded_router(const router & g, int n_expert, int64_t d) {
    std::vector<float> w(static_cast<size_t>(n_expert * d));
    for (int e = 0; e < n_expert; ++e) {
        dequantize_row(g.weight.type, g.weight.data + g.weight.row_stride * static_cast<uint64_t>(e), &w[e * d], d);
        if (g.norm != nullptr) {
            for (int64_t i = 0; i < d; ++i) {
                w[e * d + i] *= g.norm[i];
            }
        }
    }
    return w;
}

// y[t][e] = w[e] . x[t] + bias[e].
void linear(const std::vector<float> & w, const float * bias, const float * x, int64_t n, int n_out, int64_t d,
            float * y) {
    for (int64_t t = 0; t < n; ++t) {
        for (int e = 0; e < n_out; ++e) {
            double s = bias != nullptr ? bias[e] : 0.0;
            for (int64_t i = 0; i < d; ++i) {
                s += static_cast<double>(w[e * d + i]) * x[t * d + i];
            }
            y[t * n_out + e] = static_cast<float>(s);
        }
    }
}

// Solves (K + lambda I) A = R in place (K: n x n symmetric positive definite, R: n x m)
// by Cholesky.
void ridge_solve(std::vector<double> & K, int64_t n, double lambda, std::vector<double> & R, int m) {
    for (int64_t i = 0; i < n; ++i) {
        K[i * n + i] += lambda;
    }
    for (int64_t j = 0; j < n; ++j) {
        double d = K[j * n + j];
        for (int64_t k = 0; k < j; ++k) {
            d -= K[j * n + k] * K[j * n + k];
        }
        if (d <= 0.0) {
            fail("calibrate: the least-squares system is singular (too few distinct tokens?)");
        }
        d            = std::sqrt(d);
        K[j * n + j] = d;
        for (int64_t i = j + 1; i < n; ++i) {
            double s = K[i * n + j];
            for (int64_t k = 0; k < j; ++k) {
                s -= K[i * n + k] * K[j * n + k];
            }
            K[i * n + j] = s / d;
        }
    }
    for (int c = 0; c < m; ++c) {  // L y = r, then L^T a = y, column by column
        for (int64_t i = 0; i < n; ++i) {
            double s = R[i * m + c];
            for (int64_t k = 0; k < i; ++k) {
                s -= K[i * n + k] * R[k * m + c];
            }
            R[i * m + c] = s / K[i * n + i];
        }
        for (int64_t i = n - 1; i >= 0; --i) {
            double s = R[i * m + c];
            for (int64_t k = i + 1; k < n; ++k) {
                s -= K[k * n + i] * R[k * m + c];
            }
            R[i * m + c] = s / K[i * n + i];
        }
    }
}

// Share of each row's true top-k (by `truth`) found in the top `count` of `guess`.
double recall(const float * truth, const float * guess, int64_t n, int n_expert, int k, int count) {
    if (n == 0) {
        return 0.0;
    }
    std::vector<int32_t> t, g;
    int64_t              found = 0;
    for (int64_t r = 0; r < n; ++r) {
        t.clear();
        g.clear();
        vote_top(truth + r * n_expert, 1, n_expert, k, t);
        vote_top(guess + r * n_expert, 1, n_expert, count, g);
        for (int32_t e : t) {
            found += std::find(g.begin(), g.end(), e) != g.end() ? 1 : 0;
        }
    }
    return static_cast<double>(found) / static_cast<double>(n * k);
}

}  // namespace

calibration calibrate(engine & e, std::span<const int32_t> tokens, const calibrate_options & opt,
                      calibrate_report & report) {
    const model_hparams &   hp      = e.hparams();
    const expert_store &    store   = e.net().experts();
    std::span<const router> routers = e.net().routers();
    const int               L       = store.n_layer();
    const int               E       = store.n_expert();
    const int64_t           d       = hp.n_embd;
    const int               k       = static_cast<int>(hp.n_expert_used);
    if (tokens.size() < 16) {
        fail("calibrate: {} tokens of text is too little (give at least a few hundred)", tokens.size());
    }

    calibration cal;
    cal.model_name = std::filesystem::path(e.file().path()).filename().string();
    cal.n_embd     = d;
    cal.n_expert   = E;
    cal.counts.assign(static_cast<size_t>(L), {});
    for (int l = 0; l < L; ++l) {
        if (store.has_experts(l)) {
            cal.counts[l].assign(static_cast<size_t>(E), 0.0);
        }
    }
    cal.pregate.assign(static_cast<size_t>(L), {});
    cal.pregate_bias.assign(static_cast<size_t>(L), {});

    calibration_observer seen(cal, routers, d);
    session              s(e, opt.session);
    run_in_chunks(s, opt.session.n_batch, tokens, "calibrate", [&](size_t) { return &seen; });
    const auto N      = static_cast<int64_t>(tokens.size());
    const auto n_fit  = std::max<int64_t>(8, static_cast<int64_t>(static_cast<double>(N) * (1.0 - opt.holdout)));
    report.tokens     = N;
    report.fit_tokens = n_fit;
    cal.tokens        = N;
    report.layer_importance.assign(static_cast<size_t>(L), 1.0);
    double sum = 0.0;
    int    moe = 0;
    for (int l = 0; l < L; ++l) {
        if (routers[l].routed() && seen.rows[l] > 0) {
            report.layer_importance[l] = seen.contribution[l] / static_cast<double>(seen.rows[l]);
            sum += report.layer_importance[l];
            ++moe;
        }
    }
    for (int l = 0; l < L && sum > 0.0; ++l) {
        if (routers[l].routed()) {
            report.layer_importance[l] *= moe / sum;
        }
    }

    for (int l = 1; l < L; ++l) {
        if (!routers[l].routed()) {
            continue;
        }
        const float *            xp = seen.xs[l - 1].data();  // the previous block's stream: the input
        const std::vector<float> b0 = folded_router(routers[l], E, d);
        const float *            rb = routers[l].logit_bias;
        std::vector<float>       y(static_cast<size_t>(N * E)), guess(static_cast<size_t>(N * E));
        linear(b0, rb, seen.xs[l].data(), N, E, d, y.data());  // what the router will say
        linear(b0, rb, xp, N, E, d, guess.data());             // the cross-layer guess

        // Ridge regression of the guess's error, in dual form (fewer tokens than width):
        // A = (X X^T + lambda I)^-1 (Y - guess), W = b0 + A^T X.
        std::vector<double> K(static_cast<size_t>(n_fit * n_fit)), R(static_cast<size_t>(n_fit * E));
        double              trace = 0.0;
        for (int64_t i = 0; i < n_fit; ++i) {
            for (int64_t j = 0; j <= i; ++j) {
                double s = 0.0;
                for (int64_t c = 0; c < d; ++c) {
                    s += static_cast<double>(xp[i * d + c]) * xp[j * d + c];
                }
                K[i * n_fit + j] = K[j * n_fit + i] = s;
            }
            trace += K[i * n_fit + i];
            for (int c = 0; c < E; ++c) {
                R[i * E + c] = static_cast<double>(y[i * E + c]) - guess[i * E + c];
            }
        }
        ridge_solve(K, n_fit, opt.ridge * trace / static_cast<double>(n_fit), R, E);
        std::vector<float> w = b0;
        for (int c = 0; c < E; ++c) {
            for (int64_t i = 0; i < n_fit; ++i) {
                const auto a = static_cast<float>(R[i * E + c]);
                for (int64_t j = 0; j < d; ++j) {
                    w[c * d + j] += a * xp[i * d + j];
                }
            }
        }
        std::vector<float> bias(static_cast<size_t>(E), 0.0f);
        if (rb != nullptr) {
            bias.assign(rb, rb + E);
        }
        std::vector<float> fitted(static_cast<size_t>(N * E));
        linear(w, bias.data(), xp, N, E, d, fitted.data());

        const int64_t          h0 = n_fit, nh = N - n_fit;
        calibrate_layer_report r;
        r.layer              = l;
        r.cross_layer_recall = recall(y.data() + h0 * E, guess.data() + h0 * E, nh, E, k, k + opt.extra);
        r.pregate_recall     = recall(y.data() + h0 * E, fitted.data() + h0 * E, nh, E, k, k + opt.extra);
        // Where the map does worse than the guess it corrects (too little text for the
        // layer's width), keep none: the predictor falls back to the cross-layer guess.
        r.used = r.pregate_recall >= r.cross_layer_recall;
        report.layers.push_back(r);
        if (r.used) {
            cal.pregate[l]      = std::move(w);
            cal.pregate_bias[l] = std::move(bias);
        }
    }
    return cal;
}

}  // namespace sluice
