// attention() (tiled, online softmax over blocks of 64 keys) against a float64 softmax
// computed here from the same keys and values, over contexts that span several key blocks,
// with a sliding window that cuts blocks and with attention sinks; and the tiling never
// shows: a prompt evaluated at once, in chunks or one position at a time, on one thread or
// two, gives bit-identical outputs. Both on every ISA this CPU runs (the scalar reference,
// and the AVX2 and AVX-512 block kernels), and with a head size the SIMD paths leave to the
// reference (40, not a multiple of 16).
#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <random>
#include <vector>

namespace sluice {
namespace {

constexpr int64_t n_head = 8, n_head_kv = 2, n_ctx = 300;

struct inputs {
    int64_t            head_dim = 64;
    std::vector<float> q, k, v, sinks;  // q: [n_ctx][n_head * head_dim], k/v: [n_ctx][row_len]
    int64_t            row_len() const { return n_head_kv * head_dim; }
};

inputs make_inputs(int64_t head_dim = 64) {
    std::mt19937                          rng(5);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    inputs                                in;
    in.head_dim = head_dim;
    in.q.resize(n_ctx * n_head * head_dim);
    in.k.resize(n_ctx * in.row_len());
    in.v.resize(n_ctx * in.row_len());
    // Query scale 3: scores of a few units, so the softmax is neither flat nor one-hot.
    for (float & x : in.q) x = 3.0f * u(rng);
    for (float & x : in.k) x = u(rng);
    for (float & x : in.v) x = u(rng);
    for (int64_t h = 0; h < n_head; ++h) in.sinks.push_back(u(rng));
    return in;
}

// out[t][h] in float64: softmax over keys max(0, t - window + 1)..t (and the sink) of the
// scaled dot products, times the values.
std::vector<double> reference(const inputs & in, int64_t window, bool sinks) {
    const int64_t       head_dim = in.head_dim, row_len = in.row_len();
    std::vector<double> out(in.q.size());
    const double        scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    for (int64_t t = 0; t < n_ctx; ++t) {
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t g = h / (n_head / n_head_kv), first = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
            const float * q = in.q.data() + (t * n_head + h) * head_dim;
            std::vector<double> s;
            double              m = sinks ? in.sinks[static_cast<size_t>(h)] : -INFINITY;
            for (int64_t j = first; j <= t; ++j) {
                double d = 0;
                for (int64_t i = 0; i < head_dim; ++i)
                    d += static_cast<double>(q[i]) * in.k[j * row_len + g * head_dim + i];
                s.push_back(d * scale);
                m = std::max(m, s.back());
            }
            double l = sinks ? std::exp(in.sinks[static_cast<size_t>(h)] - m) : 0.0;
            for (double & x : s) l += (x = std::exp(x - m));
            for (int64_t i = 0; i < head_dim; ++i) {
                double o = 0;
                for (int64_t j = first; j <= t; ++j)
                    o += s[static_cast<size_t>(j - first)] * in.v[j * row_len + g * head_dim + i];
                out[(t * n_head + h) * head_dim + i] = o / l;
            }
        }
    }
    return out;
}

// attention() over the whole prompt, evaluated in chunks of `chunk` positions.
std::vector<float> run(const inputs & in, isa target, ggml_type type, int64_t chunk, int threads, int64_t window,
                       bool sinks) {
    const int64_t     head_dim = in.head_dim, row_len = in.row_len();
    kv_cache          kv(1, n_ctx, row_len, type);
    thread_pool       pool(threads);
    attention_options opt;
    opt.window = window;
    opt.sinks  = sinks ? in.sinks.data() : nullptr;
    std::vector<float> out(in.q.size());
    for (int64_t p = 0; p < n_ctx; p += chunk) {
        const int64_t n = std::min(chunk, n_ctx - p);
        kv.store(0, p, n, in.k.data() + p * row_len, in.v.data() + p * row_len, target);
        attention(kv, 0, in.q.data() + p * n_head * head_dim, n, p, n_head, n_head_kv, head_dim, target, pool,
                  out.data() + p * n_head * head_dim, opt);
    }
    return out;
}

struct variant {
    int64_t window;
    bool    sinks;
};

void PrintTo(const variant & v, std::ostream * os) {
    *os << "window " << v.window << (v.sinks ? ", sinks" : "");
}

class attention_test : public ::testing::TestWithParam<variant> {};

std::vector<isa> supported_isas() {
    std::vector<isa> out;
    for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
        if (isa_supported(i)) out.push_back(i);
    }
    return out;
}

TEST_P(attention_test, matches_float64_softmax_over_many_key_blocks) {
    for (int64_t head_dim : {64, 40}) {
        const inputs              in   = make_inputs(head_dim);
        const std::vector<double> want = reference(in, GetParam().window, GetParam().sinks);
        for (isa target : supported_isas()) {
            const std::vector<float> got =
                run(in, target, ggml_type::F32, n_ctx, 2, GetParam().window, GetParam().sinks);
            // Outputs are convex combinations of values in [-1, 1]; F32 sums over <= 300 keys
            // of products over 64 dims, and exponentials a few ulp off, stay well inside 1e-5
            // of the float64 result.
            double worst = 0;
            for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
            EXPECT_LT(worst, 1e-5) << isa_name(target) << ", head_dim " << head_dim;
        }
    }
}

TEST_P(attention_test, chunks_positions_and_threads_give_identical_bits) {
    for (int64_t head_dim : {64, 40}) {
        const inputs in = make_inputs(head_dim);
        for (isa target : supported_isas()) {
            for (ggml_type type : {ggml_type::F32, ggml_type::F16}) {
                const std::vector<float> whole = run(in, target, type, n_ctx, 2, GetParam().window, GetParam().sinks);
                for (auto [chunk, threads] : {std::pair<int64_t, int>{1, 2}, {7, 2}, {n_ctx, 1}, {100, 1}}) {
                    const std::vector<float> got =
                        run(in, target, type, chunk, threads, GetParam().window, GetParam().sinks);
                    EXPECT_EQ(std::memcmp(got.data(), whole.data(), whole.size() * sizeof(float)), 0)
                        << isa_name(target) << ", head_dim " << head_dim << ", " << type_name(type) << ": chunks of "
                        << chunk << " on " << threads << " threads";
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(all, attention_test,
                         ::testing::Values(variant{0, false}, variant{37, false}, variant{0, true}, variant{100, true}),
                         [](const ::testing::TestParamInfo<variant> & p) {
                             return "window" + std::to_string(p.param.window) + (p.param.sinks ? "_sinks" : "");
                         });

}  // namespace
}  // namespace sluice
