// The shared expert of moe_block: its output is added to the routed experts', scaled by
// sigmoid(gate_inp . h) when there is a gate input, and decoding one token at a time gives
// what one batch gives.
#include "model/moe.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sluice {
namespace {

constexpr int64_t d = 32, ff = 16, ffs = 24, E = 4, n = 5;

weight_matrix f32_matrix(const float * v, int64_t rows, int64_t cols) {
    return weight_matrix{ggml_type::F32, rows, cols, static_cast<uint64_t>(cols) * sizeof(float),
                         reinterpret_cast<const uint8_t *>(v)};
}

std::vector<float> randn(size_t count, std::mt19937 & rng) {
    std::normal_distribution<float> dist(0.0f, 0.3f);
    std::vector<float>              v(count);
    for (float & x : v) x = dist(rng);
    return v;
}

// Experts from plain arrays: expert e's matrices are slabs of the stacked vectors. It yields
// one expert per group, as a cache with one free slot would, last expert first (a source
// chooses its order).
class array_source final : public expert_source {
  public:
    array_source(const std::vector<float> & g, const std::vector<float> & u, const std::vector<float> & dn)
        : g_(g), u_(u), d_(dn) {}
    void for_each_expert(int, std::span<const int32_t> ids, const group_fn & fn) override {
        for (size_t i = ids.size(); i-- > 0;) {
            const auto            e        = static_cast<size_t>(ids[i]);
            const expert_matrices one[1]   = {{f32_matrix(g_.data() + e * ff * d, ff, d),
                                               f32_matrix(u_.data() + e * ff * d, ff, d),
                                               f32_matrix(d_.data() + e * d * ff, d, ff)}};
            const size_t          which[1] = {i};
            fn(which, one);
        }
    }

  private:
    const std::vector<float> &g_, &u_, &d_;
};

TEST(shared_expert, adds_the_sigmoid_gated_ffn_to_the_routed_output) {
    std::mt19937             rng(7);
    const std::vector<float> h = randn(n * d, rng), router_w = randn(E * d, rng);
    const std::vector<float> eg = randn(E * ff * d, rng), eu = randn(E * ff * d, rng), ed = randn(E * d * ff, rng);
    const std::vector<float> sg = randn(ffs * d, rng), su = randn(ffs * d, rng), sd = randn(d * ffs, rng);
    const std::vector<float> gate_inp = randn(d, rng);

    thread_pool     pool(2);
    matmul_runner   mm(pool, isa::SCALAR);
    array_source    src(eg, eu, ed);
    forward_context ctx{mm, src, nullptr};
    const auto      r = f32_matrix(router_w.data(), E, d);
    shared_expert   se{f32_matrix(sg.data(), ffs, d), f32_matrix(su.data(), ffs, d), f32_matrix(sd.data(), d, ffs),
                     gate_inp.data()};
    const router    rt{.weight = r, .n_expert = E, .k = 2, .normalize = true};
    moe_options     plain{};
    moe_options     with = plain;
    with.shared          = &se;

    std::vector<float>   routed(n * d), both(n * d);
    std::vector<int64_t> positions(n);
    for (int64_t t = 0; t < n; ++t) positions[t] = t;
    moe_block(h.data(), n, 0, rt, plain, ctx, routed.data(), positions);
    moe_block(h.data(), n, 0, rt, with, ctx, both.data(), positions);
    for (int64_t t = 0; t < n; ++t) {
        double dot = 0.0;
        for (int64_t c = 0; c < d; ++c) dot += gate_inp[c] * h[t * d + c];
        const double        s = 1.0 / (1.0 + std::exp(-dot));
        std::vector<double> a(ffs);
        for (int64_t i = 0; i < ffs; ++i) {
            double gv = 0.0, uv = 0.0;
            for (int64_t c = 0; c < d; ++c) {
                gv += sg[i * d + c] * h[t * d + c];
                uv += su[i * d + c] * h[t * d + c];
            }
            a[i] = gv / (1.0 + std::exp(-gv)) * uv;
        }
        for (int64_t c = 0; c < d; ++c) {
            double y = 0.0;
            for (int64_t i = 0; i < ffs; ++i) y += sd[c * ffs + i] * a[i];
            EXPECT_NEAR(both[t * d + c] - routed[t * d + c], s * y, 1e-5) << "token " << t << " column " << c;
        }
    }
    // One token at a time equals the batch.
    for (int64_t t = 0; t < n; ++t) {
        std::vector<float> one(d);
        moe_block(h.data() + t * d, 1, 0, rt, with, ctx, one.data(), std::span(positions).subspan(t, 1));
        for (int64_t c = 0; c < d; ++c) EXPECT_EQ(one[c], both[t * d + c]);
    }
}

}  // namespace
}  // namespace sluice
