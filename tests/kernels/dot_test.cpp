// dot_rows and quantize_act for every type and every ISA this CPU runs:
//  (a) the scalar reference against the exact value of its integer arithmetic (float64 over the
//      dequantized weights and the dequantized activations);
//  (b) each SIMD path against the scalar one on random shapes (odd block counts, 1/3/17 rows,
//      padded rows), plus: SIMD activation bytes == scalar bytes, and a row's result does not
//      depend on how many rows share the call.
//
// Error bounds (u = 2^-24, float32 unit roundoff). The integer block sums are exact in every
// path; only float operations round. Per block the scalar kernel forms (dw * da) * isum (three
// roundings: scale product, int->float, product) and accumulates nb terms left to right (at most
// nb roundings of a partial sum no larger than the sum of |terms|). With S = sum_i |a_i| (|w_i| +
// 2 |min_i|) bounding the sum of |terms| (for the types with mins w = d-part - min-part, and each
// part appears as its own term), |scalar - exact| <= (nb + 10) u S; the 10 covers the per-term
// roundings, the K-quants' second (min) term, dequantize_row's own rounding of w, and the final
// reduction. SIMD paths accumulate the same terms in another order (lane-wise, then a reduction
// tree of depth <= 4), so |simd - scalar| <= 2 (nb + 10) u S. Float weights: nb = n products,
// |err| <= (n + 2) u sum|w a| for each path.
#include "kernel_test_util.h"
#include "kernels/kernels_impl.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace sluice {
namespace {

using test::k_eps32;

struct case_data {
    test::weights        w;
    std::vector<float>   x;
    std::vector<uint8_t> act;  // scalar quantization of x
};

case_data make_case(ggml_type t, int64_t rows, int64_t n, std::mt19937 & rng, bool quantize, uint64_t pad) {
    case_data            c{test::make_weights(t, rows, n, rng, quantize, pad), test::random_activations(rng, n), {}};
    const type_kernels * ref = kern::scalar_kernels(t);
    c.act.resize(act_bytes(ref->act, n));
    ref->quantize_act(c.x.data(), c.act.data(), n);
    return c;
}

// Bound on |computed - exact| for one row, as derived in the header comment.
double error_bound(ggml_type t, const uint8_t * row, const std::vector<double> & w, const std::vector<double> & a,
                   int64_t n) {
    const std::vector<double> mins = test::min_parts(t, row, n);
    double                    s    = 0;
    for (int64_t i = 0; i < n; ++i) {
        s += std::fabs(a[i]) * (std::fabs(w[i]) + 2 * mins[i]);
    }
    const double nb = static_cast<double>(test::blocks_in(t, n));
    return (nb + 10) * k_eps32 * s + 1e-30;
}

int64_t random_cols(ggml_type t, std::mt19937 & rng) {
    const int64_t bs = traits(t).block_size;
    if (bs == 1) {
        return 1 + static_cast<int64_t>(rng() % 300);
    }
    const int64_t max_blocks = bs == QK_K ? 9 : 70;
    return bs * (1 + static_cast<int64_t>(rng() % max_blocks));
}

class dot_by_type : public ::testing::TestWithParam<ggml_type> {};

TEST_P(dot_by_type, scalar_matches_exact_value) {
    const ggml_type t = GetParam();
    std::mt19937    rng(1234 + static_cast<uint32_t>(t));
    for (int iter = 0; iter < 12; ++iter) {
        const int64_t          n    = random_cols(t, rng);
        const int64_t          rows = 5;
        case_data              c    = make_case(t, rows, n, rng, iter % 2 == 0, 0);
        const auto *           ref  = kern::scalar_kernels(t);
        const test::act_values av   = test::activation_values(ref->act, c.act.data(), c.x.data(), n);
        std::vector<float>     out(rows);
        ref->dot_rows(n, c.w.data.data(), c.w.stride, rows, c.act.data(), out.data());
        for (int64_t r = 0; r < rows; ++r) {
            const std::vector<double> w     = test::dequantized(t, c.w.row(r), n);
            double                    exact = test::q8_1_s_correction(t, c.w.row(r), c.act.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                exact += w[i] * av.a[i];
            }
            const double tol = error_bound(t, c.w.row(r), w, av.a, n);
            EXPECT_LE(std::fabs(out[r] - exact), tol)
                << type_name(t) << " n=" << n << " row " << r << ": got " << out[r] << ", exact " << exact;
        }
    }
}

TEST_P(dot_by_type, simd_matches_scalar) {
    const ggml_type t = GetParam();
    std::mt19937    rng(777 + static_cast<uint32_t>(t));
    const auto *    ref = kern::scalar_kernels(t);
    for (isa i : test::supported_isas()) {
        if (i == isa::SCALAR) {
            continue;
        }
        const type_kernels * k        = find_kernels(t, i);
        double               worst    = 0;  // max |diff| / bound, reported
        const int64_t        shapes[] = {1, 3, 17, 4, 8, 5};
        for (int iter = 0; iter < 18; ++iter) {
            const int64_t rows = shapes[iter % 6];
            const int64_t n    = random_cols(t, rng);
            // Padded row strides, even: every row of a file starts 2-byte aligned (its tensor is
            // aligned and these types' rows have an even byte count), which the block structs'
            // f16 scales need; an odd stride would be a misaligned access (UBSan reports it).
            const uint64_t pad = (iter % 3 == 0) ? static_cast<uint64_t>(rng() % 9) * 2 : 0;
            case_data      c   = make_case(t, rows, n, rng, iter % 2 == 1, pad);
            ASSERT_EQ(k->act, ref->act);

            std::vector<uint8_t> act(c.act.size());
            k->quantize_act(c.x.data(), act.data(), n);
            ASSERT_EQ(act, c.act) << isa_name(i) << " activation bytes differ from scalar, " << type_name(t);

            std::vector<float> want(rows), got(rows), one(rows);
            ref->dot_rows(n, c.w.data.data(), c.w.stride, rows, c.act.data(), want.data());
            k->dot_rows(n, c.w.data.data(), c.w.stride, rows, act.data(), got.data());
            const test::act_values av = test::activation_values(ref->act, c.act.data(), c.x.data(), n);
            for (int64_t r = 0; r < rows; ++r) {
                k->dot_rows(n, c.w.row(r), c.w.stride, 1, act.data(), &one[r]);
                EXPECT_EQ(one[r], got[r])
                    << isa_name(i) << " " << type_name(t) << ": row " << r << " differs when computed alone";
                const std::vector<double> w    = test::dequantized(t, c.w.row(r), n);
                const double              tol  = 2 * error_bound(t, c.w.row(r), w, av.a, n);
                const double              diff = std::fabs(double(got[r]) - want[r]);
                worst                          = std::max(worst, diff / tol);
                EXPECT_LE(diff, tol) << isa_name(i) << " " << type_name(t) << " n=" << n << " rows=" << rows << " row "
                                     << r << ": " << got[r] << " vs scalar " << want[r];
            }
        }
        RecordProperty(std::string(isa_name(i)) + "_worst_diff_over_bound", std::to_string(worst));
    }
}

INSTANTIATE_TEST_SUITE_P(all, dot_by_type, ::testing::ValuesIn(test::all_types()),
                         [](const ::testing::TestParamInfo<ggml_type> & p) { return std::string(type_name(p.param)); });

// The activation formats themselves: codes within [-127, 127], scales as specified, bsums and
// s consistent with the codes, and every value within d/2 of its input.
TEST(quantize_act, formats_are_consistent) {
    std::mt19937             rng(99);
    const int64_t            n = 4 * QK_K;
    const std::vector<float> x = test::random_activations(rng, n);
    for (act_format f : {act_format::Q8_0, act_format::Q8_1, act_format::Q8_K}) {
        const ggml_type      t = f == act_format::Q8_0   ? ggml_type::Q8_0
                                 : f == act_format::Q8_1 ? ggml_type::Q4_1
                                                         : ggml_type::Q4_K;
        const type_kernels * k = kern::scalar_kernels(t);
        ASSERT_EQ(k->act, f);
        std::vector<uint8_t> act(act_bytes(f, n));
        k->quantize_act(x.data(), act.data(), n);
        const test::act_values av = test::activation_values(f, act.data(), x.data(), n);
        for (int64_t i = 0; i < n; ++i) {
            EXPECT_LE(std::fabs(av.a[i] - x[i]), av.err[i]) << "element " << i;
        }
        if (f == act_format::Q8_K) {
            const auto * y = reinterpret_cast<const block_q8_K *>(act.data());
            for (int64_t b = 0; b < n / QK_K; ++b) {
                for (int g = 0; g < 16; ++g) {
                    int s = 0;
                    for (int j = 0; j < 16; ++j) {
                        EXPECT_GE(y[b].qs[16 * g + j], -127);
                        s += y[b].qs[16 * g + j];
                    }
                    EXPECT_EQ(s, y[b].bsums[g]);
                }
            }
        }
        if (f == act_format::Q8_1) {
            const auto * y = reinterpret_cast<const block_q8_1 *>(act.data());
            for (int64_t b = 0; b < n / QK8_1; ++b) {
                int s = 0;
                for (int j = 0; j < 32; ++j) {
                    s += y[b].qs[j];
                }
                // s = F16(d * sum) with the float d; F16(d) and the rounding of s each move it by
                // at most half an F16 ulp (2^-11 relative).
                const double ds = double(f16_to_f32(y[b].d)) * s;
                EXPECT_NEAR(f16_to_f32(y[b].s), ds, std::fabs(ds) * (2.0 / 2048) + 1e-30) << "block " << b;
            }
        }
    }
}

TEST(find_kernels, every_computable_type_on_every_isa) {
    for (ggml_type t : test::all_types()) {
        for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
            const type_kernels * k = find_kernels(t, i);
            ASSERT_NE(k, nullptr) << type_name(t);
            EXPECT_NE(k->dot_rows, nullptr);
            EXPECT_NE(k->quantize_act, nullptr);
        }
    }
    EXPECT_EQ(find_kernels(ggml_type::I8, isa::SCALAR), nullptr);
    EXPECT_EQ(find_kernels(ggml_type::Q8_K, isa::AVX512), nullptr);
}

}  // namespace
}  // namespace sluice
