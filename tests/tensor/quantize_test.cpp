// Quantizers on random data: error bounds that follow from each format's arithmetic, and the
// K-quants' codes checked to be the nearest representable values under the scales they chose.
#include "tensor/quantize.h"

#include "tensor/blocks.h"
#include "util/error.h"
#include "util/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace sluice {
namespace {

std::vector<float> gaussian(int64_t n, float sigma, uint32_t seed) {
    std::mt19937                    rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float>              x(static_cast<size_t>(n));
    for (float & v : x) {
        v = dist(rng);
    }
    return x;
}

struct round_trip {
    std::vector<uint8_t> q;
    std::vector<float>   y;
};

round_trip quantize_and_back(ggml_type t, const std::vector<float> & x) {
    const auto n = static_cast<int64_t>(x.size());
    round_trip r;
    r.q.resize(row_bytes(t, n));
    r.y.resize(x.size());
    quantize_row(t, x.data(), r.q.data(), n);
    dequantize_row(t, r.q.data(), r.y.data(), n);
    return r;
}

double rmse(const std::vector<float> & a, const std::vector<float> & b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    }
    return std::sqrt(s / double(a.size()));
}

float load_f16(const uint8_t * p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32(h);
}

TEST(quantize, supported_types) {
    for (ggml_type t : {ggml_type::F32, ggml_type::F16, ggml_type::BF16, ggml_type::Q8_0, ggml_type::Q4_0,
                        ggml_type::Q2_K, ggml_type::Q3_K, ggml_type::Q4_K, ggml_type::Q5_K, ggml_type::Q6_K,
                        ggml_type::IQ4_NL, ggml_type::IQ4_XS, ggml_type::TQ1_0, ggml_type::TQ2_0}) {
        EXPECT_TRUE(can_quantize(t)) << type_name(t);
    }
    for (ggml_type t : {ggml_type::Q4_1, ggml_type::Q5_0, ggml_type::MXFP4, ggml_type::IQ2_XXS, ggml_type::IQ1_S}) {
        EXPECT_FALSE(can_quantize(t)) << type_name(t);
    }
    // the list help texts and errors print names exactly the types accepted
    int              listed = 0;
    std::string_view names  = quantizable_type_names();
    while (!names.empty()) {
        const size_t           comma = names.find(", ");
        const std::string_view name  = names.substr(0, comma);
        const auto             t     = parse_type_name(name);
        ASSERT_TRUE(t.has_value()) << name;
        EXPECT_TRUE(can_quantize(*t)) << name;
        ++listed;
        names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 2);
    }
    EXPECT_EQ(listed, 14);
    std::vector<float>   x(256);
    std::vector<uint8_t> y(1024);
    EXPECT_THROW(quantize_row(ggml_type::Q5_0, x.data(), y.data(), 256), error);
    EXPECT_THROW(quantize_row(ggml_type::Q4_0, x.data(), y.data(), 31), error);
    EXPECT_THROW(quantize_row(ggml_type::Q4_K, x.data(), y.data(), 128), error);
}

// x' = q * d16 with q = round(x / d), d = amax / 127: |x - x'| <= d / 2 plus 127 times the
// error of storing d as fp16 (and a few float ulps of x / d).
TEST(quantize, q8_0_error_bound) {
    const auto x = gaussian(32 * 64, 1.0f, 1);
    const auto r = quantize_and_back(ggml_type::Q8_0, x);
    for (int b = 0; b < 64; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) {
            amax = std::max(amax, std::fabs(x[32 * b + j]));
        }
        const float d     = amax / 127;
        const float d16   = load_f16(r.q.data() + sizeof(block_q8_0) * b);
        const float bound = d * (0.5f + 1e-5f) + 127 * std::fabs(d - d16);
        for (int j = 0; j < 32; ++j) {
            EXPECT_LE(std::fabs(x[32 * b + j] - r.y[32 * b + j]), bound) << b << " " << j;
        }
    }
}

// x' = (q - 8) * d16 with d = max / -8 (max: the signed value of largest magnitude). Values
// round to the nearest code, |x - x'| <= |d| / 2, except those on the side of max's opposite
// sign beyond 7.5 |d|, which clamp to code 15 (7 |d|): there the error is at most |d|.
TEST(quantize, q4_0_error_bound) {
    const auto x = gaussian(32 * 64, 1.0f, 2);
    const auto r = quantize_and_back(ggml_type::Q4_0, x);
    for (int b = 0; b < 64; ++b) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; ++j) {
            if (std::fabs(x[32 * b + j]) > amax) {
                amax = std::fabs(x[32 * b + j]);
                max  = x[32 * b + j];
            }
        }
        const float d   = max / -8;
        const float d16 = load_f16(r.q.data() + sizeof(block_q4_0) * b);
        for (int j = 0; j < 32; ++j) {
            const float v       = x[32 * b + j];
            const bool  clamped = v / d > 7.5f;
            const float bound   = std::fabs(d) * ((clamped ? 1.0f : 0.5f) + 1e-5f) + 8 * std::fabs(d - d16);
            EXPECT_LE(std::fabs(v - r.y[32 * b + j]), bound) << b << " " << j;
        }
    }
}

TEST(quantize, f16_bf16_rows_round_each_value) {
    const auto           x = gaussian(64, 100.0f, 3);
    std::vector<uint8_t> q(128);
    quantize_row(ggml_type::F16, x.data(), q.data(), 64);
    for (int i = 0; i < 64; ++i) {
        uint16_t h;
        std::memcpy(&h, q.data() + 2 * i, 2);
        EXPECT_EQ(h, f32_to_f16(x[i]));
    }
    quantize_row(ggml_type::BF16, x.data(), q.data(), 64);
    for (int i = 0; i < 64; ++i) {
        uint16_t h;
        std::memcpy(&h, q.data() + 2 * i, 2);
        EXPECT_EQ(h, f32_to_bf16(x[i]));
    }
}

// Per-sub-block (scale, offset) of a K-quant block as dequantize_row applies them: the value
// of code q is scale * q - offset.
struct sub_scale {
    float scale, offset;
};

std::vector<sub_scale> q4_k_sub_scales(const uint8_t * blk) {
    const float            d    = load_f16(blk + offsetof(block_q4_K, d));
    const float            dmin = load_f16(blk + offsetof(block_q4_K, dmin));
    const uint8_t *        s    = blk + offsetof(block_q4_K, scales);
    std::vector<sub_scale> out;
    for (int j = 0; j < 8; ++j) {
        const int sc = j < 4 ? (s[j] & 63) : ((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
        const int m  = j < 4 ? (s[j + 4] & 63) : ((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
        out.push_back({d * static_cast<float>(sc), dmin * static_cast<float>(m)});
    }
    return out;
}

std::vector<sub_scale> q6_k_sub_scales(const uint8_t * blk) {
    const float            d  = load_f16(blk + offsetof(block_q6_K, d));
    const auto *           sc = reinterpret_cast<const int8_t *>(blk + offsetof(block_q6_K, scales));
    std::vector<sub_scale> out;
    for (int j = 0; j < 16; ++j) {
        out.push_back({d * static_cast<float>(sc[j]), 0.0f});
    }
    return out;
}

// Each decoded value is the representable value nearest to the input (up to float rounding):
// the quantizer may choose scales freely, but not waste them on a worse code.
void expect_nearest_codes(ggml_type t, const std::vector<float> & x, const round_trip & r) {
    const bool    q4      = t == ggml_type::Q4_K;
    const int     sub     = q4 ? 32 : 16;
    const int     qlo     = q4 ? 0 : -32;
    const int     qhi     = q4 ? 15 : 31;
    const int64_t nblocks = static_cast<int64_t>(x.size()) / QK_K;
    for (int64_t b = 0; b < nblocks; ++b) {
        const uint8_t * blk = r.q.data() + traits(t).type_size * b;
        const auto      sc  = q4 ? q4_k_sub_scales(blk) : q6_k_sub_scales(blk);
        for (int i = 0; i < QK_K; ++i) {
            const size_t    k    = static_cast<size_t>(QK_K * b + i);
            const sub_scale s    = sc[static_cast<size_t>(i / sub)];
            float           best = INFINITY;
            for (int q = qlo; q <= qhi; ++q) {
                best = std::min(best, std::fabs(s.scale * static_cast<float>(q) - s.offset - x[k]));
            }
            const float tol = 1e-6f * (std::fabs(s.scale) * 32 + std::fabs(s.offset));
            ASSERT_LE(std::fabs(r.y[k] - x[k]), best + tol) << type_name(t) << " element " << k;
        }
    }
}

// RMSE bounds relative to sigma for N(0, 1) data: a uniform quantizer with step h has RMSE
// h / sqrt(12); Q4_K spans ~4.3 sigma of 32 values with 15 steps (~0.083), Q6_K ~2 sigma of
// 16 values with 32 steps per side (~0.018); the scale search must do at least that well.
TEST(quantize, k_quants_gaussian_round_trip) {
    const auto   x  = gaussian(QK_K * 32, 1.0f, 4);
    const auto   r4 = quantize_and_back(ggml_type::Q4_K, x);
    const auto   r6 = quantize_and_back(ggml_type::Q6_K, x);
    const double e4 = rmse(x, r4.y), e6 = rmse(x, r6.y);
    std::printf("gaussian round trip rmse: q4_K %.5f, q6_K %.5f\n", e4, e6);
    EXPECT_LT(e4, 0.083);
    EXPECT_LT(e6, 0.018);
    expect_nearest_codes(ggml_type::Q4_K, x, r4);
    expect_nearest_codes(ggml_type::Q6_K, x, r6);
}

TEST(quantize, k_quants_scale_invariance_and_skew) {
    // the same shape at very different magnitudes, and one-sided data (Q4_K's min at 0)
    for (float sigma : {1e-3f, 30.0f}) {
        const auto x = gaussian(QK_K * 4, sigma, 5);
        for (ggml_type t : {ggml_type::Q4_K, ggml_type::Q6_K}) {
            const auto r = quantize_and_back(t, x);
            EXPECT_LT(rmse(x, r.y) / sigma, t == ggml_type::Q4_K ? 0.09 : 0.02) << type_name(t) << " " << sigma;
            expect_nearest_codes(t, x, r);
        }
    }
    auto x = gaussian(QK_K * 4, 1.0f, 6);
    for (float & v : x) {
        v = std::fabs(v) + 0.5f;
    }
    for (ggml_type t : {ggml_type::Q4_K, ggml_type::Q6_K}) {
        const auto r = quantize_and_back(t, x);
        EXPECT_LT(rmse(x, r.y), t == ggml_type::Q4_K ? 0.06 : 0.02) << type_name(t);
        expect_nearest_codes(t, x, r);
    }
}

TEST(quantize, k_quants_degenerate_blocks) {
    for (ggml_type t : {ggml_type::Q4_K, ggml_type::Q6_K}) {
        std::vector<float> zeros(QK_K, 0.0f);
        auto               r = quantize_and_back(t, zeros);
        for (float v : r.y) {
            ASSERT_EQ(v, 0.0f) << type_name(t);
        }
        for (float c : {3.0f, -0.75f}) {
            std::vector<float> constant(QK_K, c);
            r = quantize_and_back(t, constant);
            for (float v : r.y) {
                ASSERT_NEAR(v, c, std::fabs(c) * 2e-3f) << type_name(t) << " " << c;
            }
        }
        // one outlier among zeros: the other sub-blocks stay exact zeros; in the outlier's
        // own sub-block Q4_K codes zero as d1 * q - m1, within fp16 rounding of 50
        std::vector<float> spike(QK_K, 0.0f);
        spike[77] = -50.0f;
        r         = quantize_and_back(t, spike);
        for (int i = 0; i < QK_K; ++i) {
            const bool same_sub = i / 32 == 77 / 32;
            const auto k        = static_cast<size_t>(i);
            if (same_sub) {
                ASSERT_NEAR(r.y[k], spike[k], 0.05f) << type_name(t) << " " << i;
            } else {
                ASSERT_EQ(r.y[k], 0.0f) << type_name(t) << " " << i;
            }
        }
    }
}

// Garbage in must not mean undefined behaviour (float-to-int casts of NaN / inf are UB):
// every quantizer accepts NaN and infinities without crashing; the values are unspecified.
TEST(quantize, non_finite_input_is_defined) {
    std::vector<float> x = gaussian(QK_K, 1.0f, 7);
    x[3]                 = NAN;
    x[40]                = INFINITY;
    x[200]               = -INFINITY;
    for (ggml_type t :
         {ggml_type::F16, ggml_type::BF16, ggml_type::Q8_0, ggml_type::Q4_0, ggml_type::Q4_K, ggml_type::Q6_K}) {
        const auto r = quantize_and_back(t, x);
        EXPECT_EQ(r.y.size(), x.size()) << type_name(t);
    }
}

}  // namespace
}  // namespace sluice
