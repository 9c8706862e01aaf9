// The activations' exponential (exp_approx) against the float64 exponential: within a few
// float ulps over its whole range, exact where softmax rescales rely on it (e^0 = 1), and
// clamped outside; SwiGLU through it against its definition.
#include "model/layers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sluice {
namespace {

TEST(exp_approx, within_a_few_ulp_of_the_float64_exponential) {
    // Bound: the degree-7 Taylor remainder on |r| <= ln2/2 (< 6e-9) plus the roundings of the
    // range reduction and nine multiply-adds, each half an ulp (2^-24 ~ 6e-8) of a value near
    // 1: 6e-9 + 6 x 6e-8 < 4e-7.
    double worst = 0;
    for (double x = -87.0; x <= 88.0; x += 0.0137) {
        const double want = std::exp(static_cast<double>(static_cast<float>(x)));
        worst             = std::max(worst, std::fabs(exp_approx(static_cast<float>(x)) - want) / want);
    }
    EXPECT_LT(worst, 4e-7);
    EXPECT_EQ(exp_approx(0.0f), 1.0f);
    // Outside [-87, 88] the argument is clamped: tiny and huge, finite, never wrapped around.
    EXPECT_NEAR(exp_approx(-1000.0f) / std::exp(-87.0), 1.0, 4e-7);
    EXPECT_NEAR(exp_approx(1000.0f) / std::exp(88.0), 1.0, 4e-7);
}

TEST(swiglu, matches_its_definition) {
    std::mt19937                          rng(3);
    std::uniform_real_distribution<float> dist(-30.0f, 30.0f);
    std::vector<float>                    g(1001), u(g.size()), out;
    for (size_t i = 0; i < g.size(); ++i) {
        g[i] = dist(rng);
        u[i] = dist(rng);
    }
    g[0] = -200.0f;  // silu -> -0 (e^200 clamped: g / (1 + e^88))
    g[1] = 200.0f;   // silu -> g
    out  = g;
    swiglu(out.data(), u.data(), static_cast<int64_t>(g.size()));
    for (size_t i = 0; i < g.size(); ++i) {
        const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
        // exp_approx's 4e-7 plus three float roundings (1 + e, the division, the product).
        EXPECT_NEAR(out[i], want, 6e-7 * std::fabs(want) + 1e-30) << "g " << g[i] << ", u " << u[i];
    }
}

}  // namespace
}  // namespace sluice
