// `sluice synth --from` (tools/pad_model.h): a model zero-padded to a wider geometry computes
// the same function. Checked against the independent references the unpadded models are
// checked against, at the same tolerances: llama.cpp's logits for the tiny model of every
// architecture (1e-4, tests/model/archs_test.cpp), the float64 goldens of tiny-qwen3moe (1e-4)
// and of the trained model (3e-4, routing flips allowed only at the README's near-ties; see
// golden_test.cpp). Padding keeps each tensor's type here, so the only new arithmetic is the
// RMSNorm over D dims (its weights scaled by sqrt(d/D), its epsilon by d/D) and longer dot
// products whose extra terms are exact zeros: F32 rounding, far inside the tolerances.
// Then the bytes: with a type change, a padded row is the source row quantized, then zeros.
#include "tools/pad_model.h"

#include "arch_reference.h"
#include "golden.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

namespace sluice::test {
namespace {

// A temporary file removed when the test ends.
struct temp_model {
    std::string path;
    explicit temp_model(const std::string & tag)
        : path((std::filesystem::temp_directory_path() /
                fmt::format("sluice-pad-{}-{}.gguf", tag, static_cast<long>(::getpid())))
                   .string()) {}
    ~temp_model() { std::filesystem::remove(path); }
};

pad_report pad(const std::string & in, const std::string & out, int64_t d, int64_t ff,
               std::optional<ggml_type> type = std::nullopt) {
    thread_pool pool(2);
    return write_padded_model(in, pad_options{.n_embd = d, .n_ff_expert = ff, .type = type}, out, pool);
}

class padded_arch : public ::testing::TestWithParam<std::string> {};

// Hidden 128 -> 160 and expert width 64 -> 96 (archs/README.md: every tiny model has these).
// qwen3next keeps its hidden width: its DeltaNet norm would see the smaller epsilon at outputs
// small enough to notice (tools/pad_model.h).
TEST_P(padded_arch, matches_llama_cpp_reference) {
    const std::string arch = GetParam();
    const int64_t     d    = arch == "qwen3next" ? 128 : 160;
    temp_model        out(arch);
    const pad_report  r = pad(data_path("archs/tiny-" + arch + "-f32.gguf"), out.path, d, 96);
    EXPECT_EQ(r.d_from, 128);
    EXPECT_EQ(r.ff_from, 64);
    engine e = open_arch(out.path);
    EXPECT_EQ(e.hparams().n_embd, d);
    EXPECT_EQ(e.hparams().n_ff_expert, 96);
    const nlohmann::json g = read_json(data_path("archs/tiny-" + arch + "-f32.json"));
    for (const auto & c : g["cases"]) {
        const logits_diff d = compare_with_reference(e, c);
        EXPECT_LE(d.max_abs, 1e-4) << c["name"] << " worst at " << d.worst;
        EXPECT_EQ(d.argmax_differences, 0) << c["name"];
    }
}

INSTANTIATE_TEST_SUITE_P(archs, padded_arch,
                         ::testing::Values("llama", "olmoe", "qwen2moe", "gpt-oss", "deepseek2", "qwen3next"),
                         [](const auto & info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

void expect_golden(const std::string & model, const std::string & golden, double tol) {
    engine_options eo;
    eo.model_path = model;
    eo.n_threads  = 2;
    engine               e(eo);
    const nlohmann::json g = read_json(golden);
    for (const auto & c : g["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        const case_result r = run_case(e, c, ggml_type::F32, 1e-5);
        EXPECT_EQ(r.hard_flips, 0);
        EXPECT_LE(r.max_abs_err, tol) << "worst at " << r.worst;
    }
}

TEST(pad_model, tiny_qwen3moe_matches_float64_golden) {
    temp_model out("tiny");
    pad(data_path("tiny-qwen3moe-f32.gguf"), out.path, 320, 288);
    expect_golden(out.path, data_path("golden/tiny-qwen3moe-f32.json"), 1e-4);
}

// The trained model with learned routing, as streaming benchmarks use it (there padded to
// d 2048, ff 768): F16 kept, d 256 -> 288 and ff 256 -> 320 (~140 MB written).
TEST(pad_model, trained_qwen3moe_matches_float64_golden) {
    const std::string src = std::string(SLUICE_FIXTURES) + "/models/trained-qwen3moe-f16.gguf";
    if (!std::filesystem::exists(src)) {
        GTEST_SKIP() << src << " is not present";
    }
    temp_model out("trained");
    pad(src, out.path, 288, 320);
    expect_golden(out.path, data_path("golden/trained-qwen3moe-f16.json"), 3e-4);
}

// With a type: each source row quantized (Q8_0 rounds as llama.cpp does), zeros after it, and
// zero rows past the expert width; norm weights scaled by sqrt(d/D) and zero-padded.
TEST(pad_model, requantized_rows_are_the_source_rows_then_zeros) {
    const std::string src = data_path("tiny-qwen3moe-f32.gguf");
    temp_model        out("q8");
    const pad_report  r = pad(src, out.path, 320, 288, ggml_type::Q8_0);
    const gguf_file   a = gguf_file::open(src), b = gguf_file::open(out.path);
    const int64_t     d = r.d_from, ff = r.ff_from, D = r.d_to, FF = r.ff_to;
    ASSERT_LT(d, D);
    ASSERT_LT(ff, FF);

    const gguf_tensor * gs = a.find_tensor("blk.0.ffn_gate_exps.weight");
    const gguf_tensor * gp = b.find_tensor("blk.0.ffn_gate_exps.weight");
    ASSERT_TRUE(gs && gp);
    ASSERT_EQ(gp->type, ggml_type::Q8_0);
    ASSERT_EQ(gp->ne[0], D);
    ASSERT_EQ(gp->ne[1], FF);
    ASSERT_EQ(gp->ne[2], gs->ne[2]);
    std::vector<float>   src_row(d), want(d), got(D);
    std::vector<uint8_t> q(row_bytes(ggml_type::Q8_0, d));
    for (int64_t e = 0; e < gs->ne[2]; ++e) {
        for (int64_t row = 0; row < FF; ++row) {
            dequantize_row(ggml_type::Q8_0, gp->data + (e * FF + row) * gp->row_bytes(), got.data(), D);
            if (row < ff) {
                dequantize_row(gs->type, gs->data + (e * ff + row) * gs->row_bytes(), src_row.data(), d);
                quantize_row(ggml_type::Q8_0, src_row.data(), q.data(), d);
                dequantize_row(ggml_type::Q8_0, q.data(), want.data(), d);
            }
            for (int64_t c = 0; c < D; ++c) {
                const float expect = row < ff && c < d ? want[c] : 0.0f;
                ASSERT_EQ(got[c], expect) << "expert " << e << " row " << row << " column " << c;
            }
        }
    }

    const gguf_tensor * ns = a.find_tensor("blk.0.attn_norm.weight");
    const gguf_tensor * np = b.find_tensor("blk.0.attn_norm.weight");
    ASSERT_TRUE(ns && np);
    ASSERT_EQ(np->ne[0], D);
    const float * sv    = reinterpret_cast<const float *>(ns->data);
    const float * pv    = reinterpret_cast<const float *>(np->data);
    const float   scale = static_cast<float>(std::sqrt(static_cast<double>(d) / static_cast<double>(D)));
    for (int64_t c = 0; c < D; ++c) {
        EXPECT_EQ(pv[c], c < d ? sv[c] * scale : 0.0f) << c;
    }
    const std::string eps_key = "qwen3moe.attention.layer_norm_rms_epsilon";
    EXPECT_FLOAT_EQ(*b.get_f32(eps_key), *a.get_f32(eps_key) * static_cast<float>(d) / static_cast<float>(D));
    EXPECT_EQ(b.get_u32("general.file_type"), 7u);  // llama.cpp's MOSTLY_Q8_0
    EXPECT_EQ(b.get_u32("sluice.padded_from.embedding_length"), static_cast<uint32_t>(d));
}

TEST(pad_model, refuses_to_shrink) {
    temp_model out("shrink");
    try {
        pad(data_path("tiny-qwen3moe-f32.gguf"), out.path, 128, 0);
        FAIL() << "no error";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("would shrink"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(out.path));
}

}  // namespace
}  // namespace sluice::test
