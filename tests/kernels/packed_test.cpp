// Weights packed at load (kernels.h: can_pack, pack_matrix_rows, pack_group_in_place, packed_view), for every type
// and ISA with a packed form:
//  (a) the packed kernel equals dot_rows on the plain rows, bit for bit, for 1..40 tokens and
//      rows, odd block counts and padded plain rows and activation strides;
//  (b) matmul_runner on the packed view (matvec, matmul, matmul_many, two threads) equals it on
//      the plain matrix, bit for bit, and packing by row ranges equals packing at once;
//  (c) the checks: bad row ranges, a packed matrix on an ISA without its form, types without one.
#include "kernel_test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>

namespace sluice {
namespace {

// The (type, ISA) pairs this CPU packs.
std::vector<std::pair<ggml_type, isa>> packable() {
    std::vector<std::pair<ggml_type, isa>> out;
    for (ggml_type t : test::all_types()) {
        for (isa i : test::supported_isas()) {
            if (can_pack(t, i)) {
                out.emplace_back(t, i);
            }
        }
    }
    return out;
}

std::vector<uint8_t> packed_copy(const weight_matrix & w, isa i) {
    std::vector<uint8_t> out(packed_bytes(w), 0xA5);
    pack_matrix_rows(w, i, 0, w.rows, out.data());
    return out;
}

bool same_bits(float a, float b) {
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

TEST(packed, some_type_packs_where_avx512_runs) {
    if (!isa_supported(isa::AVX512)) {
        GTEST_SKIP() << "this CPU has no AVX-512: no packed forms to test";
    }
    for (ggml_type t : {ggml_type::Q8_0, ggml_type::Q4_K, ggml_type::Q5_K, ggml_type::Q6_K}) {
        EXPECT_TRUE(can_pack(t, isa::AVX512)) << type_name(t);
    }
    // Q4_0's codes are nibbles: its byte form would be larger than the file's.
    EXPECT_FALSE(can_pack(ggml_type::Q4_0, isa::AVX512));
    EXPECT_FALSE(can_pack(ggml_type::Q8_0, isa::AVX2));
    EXPECT_FALSE(can_pack(ggml_type::Q8_0, isa::SCALAR));
}

TEST(packed, kernel_equals_dot_rows_on_plain_rows) {
    for (auto [t, i] : packable()) {
        std::mt19937         rng(17 + static_cast<uint32_t>(t));
        const type_kernels * k  = find_kernels(t, i);
        const int64_t        bs = traits(t).block_size;
        for (int trial = 0; trial < 24; ++trial) {
            const int64_t              cols   = (1 + static_cast<int64_t>(rng() % 9)) * bs;
            const int64_t              rows   = 1 + static_cast<int64_t>(rng() % 40);
            const int64_t              n_tok  = trial < 4 ? 1 + trial : 1 + static_cast<int64_t>(rng() % 40);
            const uint64_t             pad    = 2 * (rng() % 5);
            const auto                 w      = test::make_weights(t, rows, cols, rng, trial % 2 == 0, pad);
            const std::vector<uint8_t> packed = packed_copy(w.view(), i);
            ASSERT_EQ(packed.size(), static_cast<size_t>((rows + 15) / 16 * 16) * row_bytes(t, cols));
            const uint64_t       act_row = act_bytes(k->act, cols), act_stride = act_row + 64 * (trial % 3);
            const int64_t        out_stride = rows + 3;
            std::vector<uint8_t> act(act_stride * static_cast<uint64_t>(n_tok));
            for (int64_t tk = 0; tk < n_tok; ++tk) {
                const std::vector<float> x = test::random_activations(rng, cols);
                k->quantize_act(x.data(), act.data() + static_cast<uint64_t>(tk) * act_stride, cols);
            }
            std::vector<float> out(static_cast<size_t>(n_tok * out_stride), -7.0f), one(static_cast<size_t>(rows));
            thread_scratch     scratch;  // 64-byte aligned, as matmul_runner gives it
            void *             scratch64 = scratch.get(k->packed->scratch(cols, n_tok));
            k->packed->dot(cols, packed.data(), row_bytes(t, cols), rows, act.data(), act_stride, n_tok, out.data(),
                           static_cast<uint64_t>(out_stride), scratch64);
            for (int64_t tk = 0; tk < n_tok; ++tk) {
                k->dot_rows(cols, w.data.data(), w.stride, rows, act.data() + static_cast<uint64_t>(tk) * act_stride,
                            one.data());
                for (int64_t r = 0; r < rows; ++r) {
                    ASSERT_TRUE(same_bits(out[tk * out_stride + r], one[r]))
                        << isa_name(i) << " " << type_name(t) << " " << rows << "x" << cols << ", " << n_tok
                        << " tokens: token " << tk << " row " << r << ": " << out[tk * out_stride + r] << " vs "
                        << one[r];
                }
                for (int64_t r = rows; r < out_stride; ++r) {
                    ASSERT_EQ(out[tk * out_stride + r], -7.0f) << "the packed kernel wrote past its rows";
                }
            }
        }
    }
}

TEST(packed, runner_on_packed_view_equals_plain) {
    thread_pool pool(2);
    for (auto [t, i] : packable()) {
        std::mt19937  rng(5 + static_cast<uint32_t>(t));
        matmul_runner runner(pool, i);
        // 200 rows: several of the runner's row tiles and a partial last group.
        const int64_t rows = 200, cols = 4 * 256;
        const auto    w = test::make_weights(t, rows, cols, rng, true, 2);
        // Packed in three row ranges, as threads would: the same bytes as at once.
        const std::vector<uint8_t> whole = packed_copy(w.view(), i);
        std::vector<uint8_t>       parts(whole.size(), 0);
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 64}, {64, 192}, {192, rows}}) {
            pack_matrix_rows(w.view(), i, r0, r1, parts.data());
        }
        ASSERT_EQ(parts, whole) << type_name(t);
        const weight_matrix pw = packed_view(w.view(), whole.data());
        EXPECT_TRUE(pw.packed);
        for (int64_t n_tok : {1, 3, 8, 70}) {
            std::vector<float> x(static_cast<size_t>(n_tok * cols));
            for (int64_t tk = 0; tk < n_tok; ++tk) {
                const std::vector<float> xt = test::random_activations(rng, cols);
                std::copy(xt.begin(), xt.end(), x.begin() + tk * cols);
            }
            std::vector<float> want(static_cast<size_t>(n_tok * rows)), got(want.size(), -7.0f);
            runner.matmul(w.view(), x.data(), n_tok, want.data());
            runner.matmul(pw, x.data(), n_tok, got.data());
            for (size_t j = 0; j < want.size(); ++j) {
                ASSERT_TRUE(same_bits(got[j], want[j]))
                    << isa_name(i) << " " << type_name(t) << " " << n_tok << " tokens, output " << j;
            }
            // A batch mixing the packed view and the plain matrix, one token each.
            const weight_matrix plain = w.view();
            std::vector<float>  a(static_cast<size_t>(rows)), b(static_cast<size_t>(rows));
            const matvec_job    jobs[] = {{&pw, x.data(), a.data()}, {&plain, x.data(), b.data()}};
            runner.matvec_many(jobs);
            for (int64_t r = 0; r < rows; ++r) {
                ASSERT_TRUE(same_bits(a[static_cast<size_t>(r)], want[static_cast<size_t>(r)]))
                    << "matvec_many row " << r;
                ASSERT_TRUE(same_bits(b[static_cast<size_t>(r)], want[static_cast<size_t>(r)]))
                    << "matvec_many row " << r;
            }
        }
    }
}

TEST(packed, a_group_packed_in_place_is_the_group_packed_elsewhere) {
    // pack_group_in_place (what a streamed expert's slot goes through) against
    // pack_matrix_rows into a separate buffer: the same bytes, group by group.
    for (auto [t, i] : packable()) {
        std::mt19937               rng(29 + static_cast<uint32_t>(t));
        const int64_t              rows = 48, cols = 3 * 256;
        const auto                 w    = test::make_weights(t, rows, cols, rng, true);
        const std::vector<uint8_t> want = packed_copy(w.view(), i);
        std::vector<uint8_t>       got  = w.data;
        const uint64_t             rb   = row_bytes(t, cols);
        std::vector<uint8_t>       scratch(rb * k_packed_group_rows);
        for (int64_t g = 0; g < rows / k_packed_group_rows; ++g) {
            pack_group_in_place(t, i, cols, got.data() + static_cast<uint64_t>(g * k_packed_group_rows) * rb,
                                scratch.data());
        }
        EXPECT_EQ(got, want) << isa_name(i) << " " << type_name(t);
        EXPECT_NE(got, w.data) << isa_name(i) << " " << type_name(t) << ": nothing was rearranged";
    }
    EXPECT_THROW(pack_group_in_place(ggml_type::Q4_0, isa::SCALAR, 32, nullptr, nullptr), error);
}

TEST(packed, rejects_bad_calls) {
    std::mt19937         rng(3);
    const auto           w = test::make_weights(ggml_type::Q4_0, 32, 64, rng, true);
    std::vector<uint8_t> dst(packed_bytes(w.view()));
    EXPECT_EQ(dst.size(), 32u * 36u);
    EXPECT_THROW(pack_matrix_rows(w.view(), isa::SCALAR, 0, 32, dst.data()), error);  // no packed form
    if (!isa_supported(isa::AVX512)) {
        GTEST_SKIP() << "this CPU has no AVX-512: no packed forms to test";
    }
    const auto           q = test::make_weights(ggml_type::Q8_0, 40, 64, rng, true);
    std::vector<uint8_t> out(packed_bytes(q.view()));
    EXPECT_EQ(out.size(), 48u * 68u);  // three groups of 16 rows of 68 bytes
    EXPECT_THROW(pack_matrix_rows(q.view(), isa::AVX512, 8, 40, out.data()), error);  // not at a group
    EXPECT_THROW(pack_matrix_rows(q.view(), isa::AVX512, 0, 20, out.data()), error);  // ends inside a group
    EXPECT_THROW(pack_matrix_rows(q.view(), isa::AVX512, 0, 41, out.data()), error);  // past the rows
    EXPECT_NO_THROW(pack_matrix_rows(q.view(), isa::AVX512, 32, 40, out.data()));     // the last, partial group
    // A packed matrix needs its ISA's packed kernels.
    thread_pool        pool(1);
    matmul_runner      avx2(pool, isa::AVX2);
    std::vector<float> x(64, 1.0f), y(40);
    EXPECT_THROW(avx2.matvec(packed_view(q.view(), out.data()), x.data(), y.data()), error);
}

}  // namespace
}  // namespace sluice
