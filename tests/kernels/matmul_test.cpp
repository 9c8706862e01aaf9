// matmul_runner end to end, for every type and every ISA this CPU runs:
//  (c) matvec of a quantized matrix against the float64 product of the dequantized matrix with
//      the original F32 input, within what activation quantization implies;
//  (d) matmul equals matvec token by token, and matmul_many equals the kernel per job and
//      token, bit for bit, also for jobs that pick rows of their input;
//  (e) one thread and two threads give bit-identical results;
//  (g) each multi-token kernel (dot_tile) equals dot_rows token by token, bit for bit, on odd
//      shapes (1..40 tokens, 1..17 rows, odd block counts, padded row and activation strides);
//  (f) ISA names, choose_isa and the runner's argument checks.
#include "kernel_test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <string>

namespace sluice {
namespace {

using test::k_eps32;

class matmul_by_type : public ::testing::TestWithParam<ggml_type> {};

// |y - sum w x| <= sum |w_i| |a_i - x_i| (activation rounding, err_i <= d/2 plus the F16 scale's
// share) + |Q8_1 s correction| (exact, see kernel_test_util.h) + the kernel's float error
// (nb + 10) u S as derived in dot_test.cpp.
TEST_P(matmul_by_type, matvec_matches_dequantized_f32_product) {
    const ggml_type t = GetParam();
    std::mt19937    rng(4321 + static_cast<uint32_t>(t));
    thread_pool     pool(2);
    for (isa i : test::supported_isas()) {
        matmul_runner        runner(pool, i);
        const type_kernels * k = find_kernels(t, i);
        for (int64_t cols : {int64_t{768}, int64_t{2304}}) {
            const int64_t       rows = 37;
            const test::weights w    = test::make_weights(t, rows, cols, rng, true);
            std::vector<float>  x    = test::random_activations(rng, cols);
            std::vector<float>  y(rows);
            runner.matvec(w.view(), x.data(), y.data());

            std::vector<uint8_t> act(act_bytes(k->act, cols));
            k->quantize_act(x.data(), act.data(), cols);
            const test::act_values av = test::activation_values(k->act, act.data(), x.data(), cols);
            for (int64_t r = 0; r < rows; ++r) {
                const std::vector<double> wd   = test::dequantized(t, w.row(r), cols);
                const std::vector<double> mins = test::min_parts(t, w.row(r), cols);
                double                    want = 0, act_err = 0, s = 0;
                for (int64_t j = 0; j < cols; ++j) {
                    want += wd[j] * x[j];
                    act_err += std::fabs(wd[j]) * av.err[j];
                    s += std::fabs(av.a[j]) * (std::fabs(wd[j]) + 2 * mins[j]);
                }
                const double corr = std::fabs(test::q8_1_s_correction(t, w.row(r), act.data(), cols));
                const double nb   = static_cast<double>(test::blocks_in(t, cols));
                const double tol  = act_err + corr + (nb + 10) * k_eps32 * s + 1e-30;
                EXPECT_LE(std::fabs(y[r] - want), tol)
                    << isa_name(i) << " " << type_name(t) << " " << rows << "x" << cols << " row " << r;
            }
        }
    }
}

TEST_P(matmul_by_type, matmul_equals_matvec_per_token_and_threads_agree) {
    const ggml_type t = GetParam();
    std::mt19937    rng(55 + static_cast<uint32_t>(t));
    thread_pool     pool1(1), pool2(2);
    // Large enough to be split across threads and into several row tiles; 70 tokens span two
    // token tiles.
    const int64_t       rows = 301, cols = 1024;
    const test::weights w = test::make_weights(t, rows, cols, rng, false, 4);
    for (int64_t n_tokens : {int64_t{5}, int64_t{70}}) {
        std::vector<float> x(static_cast<size_t>(n_tokens * cols));
        for (int64_t tk = 0; tk < n_tokens; ++tk) {
            const std::vector<float> xt = test::random_activations(rng, cols);
            std::copy(xt.begin(), xt.end(), x.begin() + tk * cols);
        }
        for (isa i : test::supported_isas()) {
            matmul_runner      r1(pool1, i), r2(pool2, i);
            std::vector<float> y1(static_cast<size_t>(n_tokens * rows)), y2(y1.size()), yv(rows), yv1(rows);
            r1.matmul(w.view(), x.data(), n_tokens, y1.data());
            r2.matmul(w.view(), x.data(), n_tokens, y2.data());
            EXPECT_EQ(y1, y2) << isa_name(i) << " " << type_name(t) << ": matmul differs between 1 and 2 threads";
            for (int64_t tk = 0; tk < n_tokens; ++tk) {
                r2.matvec(w.view(), x.data() + tk * cols, yv.data());
                r1.matvec(w.view(), x.data() + tk * cols, yv1.data());
                const std::vector<float> col(y2.begin() + tk * rows, y2.begin() + (tk + 1) * rows);
                ASSERT_EQ(yv, col) << isa_name(i) << " " << type_name(t) << ": token " << tk;
                ASSERT_EQ(yv, yv1) << isa_name(i) << " " << type_name(t) << ": matvec differs between 1 and 2 threads";
            }
        }
    }
}

TEST_P(matmul_by_type, matmul_many_equals_the_kernel_per_job_and_token) {
    // One pass over jobs of 3, 1, 0 and 5 tokens (the experts of a batched decode step): two
    // share an input (quantized once), one is F16; and matvec_many over two of them. Each
    // output row must equal the type's dot_rows on that token's quantized activations, called
    // directly, bit for bit.
    const ggml_type     t = GetParam();
    std::mt19937        rng(83 + static_cast<uint32_t>(t));
    thread_pool         pool(2);
    const int64_t       cols = 512;
    const test::weights a    = test::make_weights(t, 203, cols, rng, false, 4);
    const test::weights b    = test::make_weights(t, 64, cols, rng, false, 4);
    const test::weights c    = test::make_weights(ggml_type::F16, 96, cols, rng, false, 4);
    std::vector<float>  x3, x5;  // 3 and 5 tokens
    for (int i = 0; i < 8; ++i) {
        const std::vector<float> xi = test::random_activations(rng, cols);
        std::vector<float> &     x  = i < 3 ? x3 : x5;
        x.insert(x.end(), xi.begin(), xi.end());
    }
    for (isa i : test::supported_isas()) {
        matmul_runner       r(pool, i);
        const weight_matrix wa = a.view(), wb = b.view(), wc = c.view();
        std::vector<float>  ya(3 * 203), yb(64), yb0(1, -1.0f), yc(5 * 96);
        const matmul_job    jobs[5] = {{&wa, x3.data(), 3, ya.data()},
                                       {&wb, x5.data(), 1, yb.data()},
                                       {&wb, x5.data(), 0, yb0.data()},
                                       {&wc, x5.data(), 5, yc.data()},
                                       {&wa, x3.data(), 3, ya.data()}};  // again: same input, same output
        r.matmul_many(jobs);
        EXPECT_EQ(yb0[0], -1.0f) << "a job of no tokens writes nothing";
        // matvec_many: the same as one-token jobs.
        std::vector<float> va(203), vc(96);
        const matvec_job   vjobs[2] = {{&wa, x5.data(), va.data()}, {&wc, x5.data(), vc.data()}};
        r.matvec_many(vjobs);
        const matmul_job        as_many[2] = {{&wa, x5.data(), 1, va.data()}, {&wc, x5.data(), 1, vc.data()}};
        std::vector<matmul_job> all(std::begin(jobs), std::end(jobs));
        all.insert(all.end(), std::begin(as_many), std::end(as_many));
        for (const matmul_job & j : all) {
            const type_kernels * k = find_kernels(j.w->type, i);
            std::vector<uint8_t> act(act_bytes(k->act, cols));
            std::vector<float>   want(j.w->rows);
            for (int64_t tk = 0; tk < j.n_tokens; ++tk) {
                k->quantize_act(j.x + tk * cols, act.data(), cols);
                k->dot_rows(cols, j.w->data, j.w->row_stride, j.w->rows, act.data(), want.data());
                EXPECT_EQ(std::vector<float>(j.y + tk * j.w->rows, j.y + (tk + 1) * j.w->rows), want)
                    << isa_name(i) << " " << type_name(j.w->type) << " token " << tk << " of " << j.n_tokens;
            }
        }
    }
}

TEST_P(matmul_by_type, picked_rows_equal_the_kernel_on_those_rows) {
    // Jobs that pick rows of one input (the routed experts of a block): repeated and unordered
    // picks, every row in order (read in place), and one pick, beside a plain job on the same
    // input; then 150 of 200 rows backwards (enough floats that the pool quantizes them). Each
    // output row must equal dot_rows on the picked row's quantized activations, bit for bit.
    const ggml_type     t = GetParam();
    std::mt19937        rng(97 + static_cast<uint32_t>(t));
    thread_pool         pool(2);
    const int64_t       cols = 512, n_x = 200;
    const test::weights a = test::make_weights(t, 70, cols, rng, false, 4);
    std::vector<float>  x;
    for (int64_t r = 0; r < n_x; ++r) {
        const std::vector<float> xr = test::random_activations(rng, cols);
        x.insert(x.end(), xr.begin(), xr.end());
    }
    const std::vector<int64_t> mixed = {4, 1, 1, 8}, first9 = {0, 1, 2, 3, 4, 5, 6, 7, 8}, one = {7};
    std::vector<int64_t>       backwards(150);
    for (int64_t k = 0; k < 150; ++k) backwards[k] = n_x - 1 - 2 * (k % 75) - k / 75;
    for (isa i : test::supported_isas()) {
        matmul_runner        r(pool, i);
        const weight_matrix  wa    = a.view();
        const type_kernels * k     = find_kernels(t, i);
        const auto           check = [&](const std::vector<int64_t> & rows, const std::vector<float> & y) {
            std::vector<uint8_t> act(act_bytes(k->act, cols));
            std::vector<float>   want(70);
            for (size_t tk = 0; tk < rows.size(); ++tk) {
                k->quantize_act(x.data() + rows[tk] * cols, act.data(), cols);
                k->dot_rows(cols, wa.data, wa.row_stride, wa.rows, act.data(), want.data());
                ASSERT_EQ(std::vector<float>(y.begin() + tk * 70, y.begin() + (tk + 1) * 70), want)
                    << isa_name(i) << " " << type_name(t) << " token " << tk << " (row " << rows[tk] << ")";
            }
        };
        std::vector<float> y_mixed(4 * 70), y_first(9 * 70), y_one(70), y_plain(9 * 70), y_back(150 * 70);
        const matmul_job   jobs[4] = {{&wa, x.data(), 4, y_mixed.data(), mixed.data()},
                                      {&wa, x.data(), 9, y_first.data(), first9.data()},
                                      {&wa, x.data(), 1, y_one.data(), one.data()},
                                      {&wa, x.data(), 9, y_plain.data()}};
        r.matmul_many(jobs);
        check(mixed, y_mixed);
        check(first9, y_first);
        check(one, y_one);
        check(first9, y_plain);
        const matmul_job back = {&wa, x.data(), 150, y_back.data(), backwards.data()};
        r.matmul_many({&back, 1});
        check(backwards, y_back);
    }
}

TEST_P(matmul_by_type, dot_tile_equals_dot_rows_per_token) {
    const ggml_type t = GetParam();
    std::mt19937    rng(91 + static_cast<uint32_t>(t));
    const int64_t   bs = traits(t).block_size;
    for (isa i : test::supported_isas()) {
        const type_kernels * k = find_kernels(t, i);
        if (k->dot_tile == nullptr) {
            continue;
        }
        for (int trial = 0; trial < 16; ++trial) {
            const int64_t blocks =
                bs == 1 ? 1 + static_cast<int64_t>(rng() % 300) : 1 + static_cast<int64_t>(rng() % 9);
            // Trial 0: 8 blocks and 33 tokens, so that every decoded tile (units of up to 4
            // blocks of 32, from 8 tokens) runs at least once.
            const int64_t cols = (trial == 0 && bs > 1 ? 8 : blocks) * (bs == 1 ? 1 : bs);
            // up to 40 rows: more than two of the 16-row groups of the row-lanes kernels, with a tail
            const int64_t rows = 1 + static_cast<int64_t>(rng() % 40);
            // up to 40 tokens: past the sizes where kernels switch to decoding rows once (4, 6, 8)
            const int64_t       n_tok = trial == 0 ? 33 : 1 + static_cast<int64_t>(rng() % 40);
            const uint64_t      pad   = 2 * (rng() % 5);
            const test::weights w     = test::make_weights(t, rows, cols, rng, trial % 2 == 0, pad);
            // Activations of each token act_row + 64 * (trial % 3) bytes apart; outputs rows + 3 floats.
            const uint64_t       act_row    = act_bytes(k->act, cols);
            const uint64_t       act_stride = act_row + 64 * static_cast<uint64_t>(trial % 3);
            const int64_t        out_stride = rows + 3;
            std::vector<uint8_t> act(act_stride * static_cast<uint64_t>(n_tok));
            for (int64_t tk = 0; tk < n_tok; ++tk) {
                const std::vector<float> x = test::random_activations(rng, cols);
                k->quantize_act(x.data(), act.data() + static_cast<uint64_t>(tk) * act_stride, cols);
            }
            std::vector<float> tile(static_cast<size_t>(n_tok * out_stride), -7.0f), one(static_cast<size_t>(rows));
            thread_scratch     scratch;  // 64-byte aligned, as matmul_runner gives it
            void * scratch64 = k->tile_scratch != nullptr ? scratch.get(k->tile_scratch(cols, n_tok)) : nullptr;
            k->dot_tile(cols, w.data.data(), w.stride, rows, act.data(), act_stride, n_tok, tile.data(),
                        static_cast<uint64_t>(out_stride), scratch64);
            for (int64_t tk = 0; tk < n_tok; ++tk) {
                k->dot_rows(cols, w.data.data(), w.stride, rows, act.data() + static_cast<uint64_t>(tk) * act_stride,
                            one.data());
                for (int64_t r = 0; r < rows; ++r) {
                    // Bits, not values: NaN and -0 must match too.
                    ASSERT_EQ(std::bit_cast<uint32_t>(tile[tk * out_stride + r]), std::bit_cast<uint32_t>(one[r]))
                        << isa_name(i) << " " << type_name(t) << " " << rows << "x" << cols << ", " << n_tok
                        << " tokens: token " << tk << " row " << r;
                }
                for (int64_t r = rows; r < out_stride; ++r) {
                    ASSERT_EQ(tile[tk * out_stride + r], -7.0f) << "dot_tile wrote past its rows";
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(all, matmul_by_type, ::testing::ValuesIn(test::all_types()),
                         [](const ::testing::TestParamInfo<ggml_type> & p) { return std::string(type_name(p.param)); });

TEST(matmul_runner, rejects_bad_matrices) {
    thread_pool   pool(1);
    matmul_runner runner(pool, isa::SCALAR);
    float         x[256] = {}, y[4] = {};
    uint8_t       data[4096] = {};
    EXPECT_THROW(runner.matvec({ggml_type::I8, 1, 256, 256, data}, x, y), error);  // not computable
    EXPECT_THROW(runner.matvec({ggml_type::Q4_0, 1, 48, 27, data}, x, y), error);  // not whole blocks
    EXPECT_THROW(runner.matvec({ggml_type::Q4_0, 2, 64, 20, data}, x, y), error);  // stride < row bytes
    EXPECT_NO_THROW(runner.matvec({ggml_type::Q4_0, 2, 64, 36, data}, x, y));
    EXPECT_EQ(y[0], 0.0f);
    const weight_matrix w{ggml_type::Q4_0, 2, 64, 36, data};
    const int64_t       bad[2] = {0, -1};
    const matmul_job    picks{&w, x, 2, y, bad};
    EXPECT_THROW(runner.matmul_many({&picks, 1}), error);  // a row before the input
}

TEST(isa, parse_names) {
    EXPECT_EQ(parse_isa_name("scalar"), isa::SCALAR);
    EXPECT_EQ(parse_isa_name("avx2"), isa::AVX2);
    EXPECT_EQ(parse_isa_name("avx512"), isa::AVX512);
    EXPECT_FALSE(parse_isa_name("AVX512").has_value());
    EXPECT_FALSE(parse_isa_name("neon").has_value());
    EXPECT_FALSE(parse_isa_name("").has_value());
    for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
        EXPECT_EQ(parse_isa_name(isa_name(i)), i);
    }
}

TEST(isa, choose_isa_takes_what_the_cpu_runs) {
    isa best = isa::SCALAR;
    for (isa i : test::supported_isas()) {
        best = i;
    }
    EXPECT_EQ(detect_isa(), best);
    EXPECT_EQ(choose_isa(std::nullopt), best);
    for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
        if (isa_supported(i)) {
            EXPECT_EQ(choose_isa(i), i);
        } else {
            EXPECT_THROW(choose_isa(i), error);
        }
    }
    EXPECT_TRUE(isa_supported(isa::SCALAR));
}

}  // namespace
}  // namespace sluice
