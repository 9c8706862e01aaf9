// The activations' exponential (exp_approx) against the float64 exponential: within a few
// float ulps over its whole range, exact where softmax rescales rely on it (e^0 = 1), and
// clamped outside; SwiGLU through it against its definition; every ISA's SwiGLU gives the
// scalar reference's bits (odd lengths for the tails, zeros of both signs, clamped ends, NaN).
#include "kernel_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
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
    swiglu(out.data(), u.data(), static_cast<int64_t>(g.size()), isa::SCALAR);
    for (size_t i = 0; i < g.size(); ++i) {
        const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
        // exp_approx's 4e-7 plus three float roundings (1 + e, the division, the product).
        EXPECT_NEAR(out[i], want, 6e-7 * std::fabs(want) + 1e-30) << "g " << g[i] << ", u " << u[i];
    }
}

TEST(swiglu, every_isa_gives_the_reference_bits) {
    std::mt19937                          rng(5);
    std::uniform_real_distribution<float> dist(-100.0f, 100.0f);
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{1003}}) {
        std::vector<float> g(n), u(n);
        for (int64_t i = 0; i < n; ++i) {
            g[i] = dist(rng);
            u[i] = dist(rng);
        }
        const float edges[] = {0.0f,  -0.0f,  87.5f,  -87.5f,
                               1e30f, -1e30f, 1e-40f, std::numeric_limits<float>::quiet_NaN()};
        for (size_t k = 0; k < std::size(edges) && static_cast<int64_t>(k) < n; ++k) {
            g[k * 7 % n] = edges[k];
        }
        std::vector<float> want = g;
        swiglu(want.data(), u.data(), n, isa::SCALAR);
        for (isa i : test::supported_isas()) {
            std::vector<float> got = g;
            swiglu(got.data(), u.data(), n, i);
            EXPECT_EQ(std::memcmp(got.data(), want.data(), n * sizeof(float)), 0)
                << isa_name(i) << ", " << n << " values";
        }
    }
}

}  // namespace
}  // namespace sluice
