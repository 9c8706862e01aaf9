// The shared expert of moe_block: its output is added to the routed experts', scaled by
// sigmoid(gate_inp . h) when there is a gate input, and decoding one token at a time gives
// what one batch gives.
#include "model/moe.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
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

// The order a source yields n experts in: a permutation of 0..n-1.
using yield_order = std::function<std::vector<size_t>(size_t n)>;

std::vector<size_t> last_first(size_t n) {
    std::vector<size_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = n - 1 - i;
    return v;
}

// Experts from plain arrays: expert e's matrices are slabs of the stacked vectors. It yields
// them in groups of `group` in the order `order` gives; by default one expert per group, as
// a cache with one free slot would, last expert first (a source chooses its order).
class array_source final : public expert_source {
  public:
    array_source(const std::vector<float> & g, const std::vector<float> & u, const std::vector<float> & dn,
                 yield_order order = last_first, size_t group = 1)
        : g_(g), u_(u), d_(dn), order_(std::move(order)), group_(group) {}
    void for_each_expert(int, std::span<const int32_t> ids, const group_fn & fn) override {
        const std::vector<size_t> seq = order_(ids.size());
        for (size_t k = 0; k < seq.size(); k += group_) {
            std::vector<expert_matrices> mats;
            std::vector<size_t>          which;
            for (size_t j = k; j < std::min(seq.size(), k + group_); ++j) {
                const auto e = static_cast<size_t>(ids[seq[j]]);
                mats.push_back({f32_matrix(g_.data() + e * ff * d, ff, d), f32_matrix(u_.data() + e * ff * d, ff, d),
                                f32_matrix(d_.data() + e * d * ff, d, ff)});
                which.push_back(seq[j]);
            }
            fn(which, mats);
        }
    }

  private:
    const std::vector<float> &g_, &u_, &d_;
    yield_order               order_;
    size_t                    group_;
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

// The routed sum is added in the router's order of experts whatever order and grouping the
// source yields them in (each expert's outputs have their own place until the sums): every
// order gives the bits of in-order, one group, and the sum is the float64 reference's.
TEST(moe_block, the_routed_sum_does_not_depend_on_the_sources_order) {
    constexpr int64_t        n_tok = 7, n_exp = 6;
    std::mt19937             rng(11);
    const std::vector<float> h = randn(n_tok * d, rng), router_w = randn(n_exp * d, rng);
    const std::vector<float> eg = randn(n_exp * ff * d, rng), eu = randn(n_exp * ff * d, rng),
                             ed = randn(n_exp * d * ff, rng);
    thread_pool   pool(2);
    matmul_runner mm(pool, isa::SCALAR);
    const router  rt{.weight = f32_matrix(router_w.data(), n_exp, d), .n_expert = n_exp, .k = 3, .normalize = true};
    std::vector<int64_t> positions(n_tok);
    for (int64_t t = 0; t < n_tok; ++t) positions[t] = t;
    forward_workspace ws;  // reused across calls, as the engine's is
    const auto        block = [&](yield_order order, size_t group) {
        array_source    src(eg, eu, ed, std::move(order), group);
        forward_context ctx{mm, src, nullptr};
        ctx.work = &ws;
        std::vector<float> out(n_tok * d);
        moe_block(h.data(), n_tok, 0, rt, moe_options{}, ctx, out.data(), positions);
        return out;
    };
    const auto in_order = [](size_t n) {
        std::vector<size_t> v(n);
        std::iota(v.begin(), v.end(), 0);
        return v;
    };
    // Yielded one at a time, the gate and up outputs held are one expert's (<= n_tok rows);
    // the down outputs are every token's three experts' rows, until the sums.
    EXPECT_EQ(block(in_order, 1), block(in_order, 1));
    EXPECT_LE(ws.g.size(), static_cast<size_t>(n_tok * ff));
    EXPECT_EQ(ws.y.size(), static_cast<size_t>(n_tok * 3 * d));
    const std::vector<float> want = block(in_order, 64);
    EXPECT_EQ(block(in_order, 1), want);
    EXPECT_EQ(block(last_first, 1), want);
    EXPECT_EQ(block(last_first, 2), want);
    const auto shuffled = [](size_t n) {
        std::vector<size_t> v(n);
        std::iota(v.begin(), v.end(), 0);
        std::shuffle(v.begin(), v.end(), std::mt19937(3));
        return v;
    };
    EXPECT_EQ(block(shuffled, 1), want);
    EXPECT_EQ(block(shuffled, 3), want);

    // float64 reference: softmax over all experts, top 3, renormalised, SwiGLU experts.
    for (int64_t t = 0; t < n_tok; ++t) {
        const float *       x = h.data() + t * d;
        std::vector<double> logit(n_exp);
        for (int64_t e = 0; e < n_exp; ++e) {
            for (int64_t c = 0; c < d; ++c) logit[e] += double(router_w[e * d + c]) * x[c];
        }
        std::vector<int64_t> top(n_exp);
        std::iota(top.begin(), top.end(), 0);
        std::sort(top.begin(), top.end(), [&](int64_t a, int64_t b) { return logit[a] > logit[b]; });
        double wsum = 0.0;
        for (int j = 0; j < 3; ++j) wsum += std::exp(logit[top[j]]);
        std::vector<double> y(d, 0.0);
        for (int j = 0; j < 3; ++j) {
            const int64_t       e = top[j];
            std::vector<double> a(ff);
            for (int64_t i = 0; i < ff; ++i) {
                double gv = 0.0, uv = 0.0;
                for (int64_t c = 0; c < d; ++c) {
                    gv += double(eg[(e * ff + i) * d + c]) * x[c];
                    uv += double(eu[(e * ff + i) * d + c]) * x[c];
                }
                a[i] = gv / (1.0 + std::exp(-gv)) * uv;
            }
            for (int64_t c = 0; c < d; ++c) {
                double v = 0.0;
                for (int64_t i = 0; i < ff; ++i) v += double(ed[(e * d + c) * ff + i]) * a[i];
                y[c] += std::exp(logit[e]) / wsum * v;
            }
        }
        for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(want[t * d + c], y[c], 1e-5) << "token " << t << " column " << c;
    }
}

}  // namespace
}  // namespace sluice
