// weighted_row_sum on every ISA against a float64 sum. Each of the n_rows float
// multiply-adds rounds once or twice (relative 2^-24 each), so the error is below
// 2 * n_rows * 2^-24 * sum_j |w_j r_j|.
#include "kernels/kernels.h"
#include "util/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sluice {
namespace {

TEST(weighted_row_sum, matches_float64_on_every_isa) {
    std::mt19937                          rng(9);
    std::normal_distribution<float>       dist(0.0f, 1.0f);
    std::uniform_real_distribution<float> wd(0.0f, 1.0f);
    for (ggml_type t : {ggml_type::F32, ggml_type::F16}) {
        for (int64_t n : {int64_t{64}, int64_t{128}, int64_t{40}}) {
            const int64_t        n_rows = 37, stride_elems = n + 8;  // rows with a gap, like a KV cache
            const size_t         esz = t == ggml_type::F32 ? 4 : 2;
            std::vector<uint8_t> rows(n_rows * stride_elems * esz);
            std::vector<double>  vals(n_rows * n);
            for (int64_t j = 0; j < n_rows; ++j) {
                for (int64_t i = 0; i < n; ++i) {
                    const float v = dist(rng);
                    if (t == ggml_type::F32) {
                        reinterpret_cast<float *>(rows.data())[j * stride_elems + i] = v;
                        vals[j * n + i]                                              = v;
                    } else {
                        const uint16_t h                                                = f32_to_f16(v);
                        reinterpret_cast<uint16_t *>(rows.data())[j * stride_elems + i] = h;
                        vals[j * n + i]                                                 = f16_to_f32(h);
                    }
                }
            }
            std::vector<float> w(n_rows);
            for (float & x : w) x = wd(rng);
            for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
                if (!isa_supported(i)) continue;
                std::vector<float> out(n, -1.0f);
                weighted_row_sum(t, rows.data(), stride_elems * esz, n_rows, w.data(), n, out.data(), i);
                for (int64_t c = 0; c < n; ++c) {
                    double want = 0, mag = 0;
                    for (int64_t j = 0; j < n_rows; ++j) {
                        want += w[j] * vals[j * n + c];
                        mag += std::fabs(w[j] * vals[j * n + c]);
                    }
                    EXPECT_NEAR(out[c], want, 2.0 * n_rows * 0x1p-24 * mag)
                        << isa_name(i) << " " << type_name(t) << " n " << n << " col " << c;
                }
            }
        }
    }
}

}  // namespace
}  // namespace sluice
