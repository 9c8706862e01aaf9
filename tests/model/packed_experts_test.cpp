// Experts packed at load (engine_options::repack_experts, experts/packed_experts.h): the
// trained model with its routed experts in every type that has a packed form gives the same
// logits, bit for bit, as with the experts read from the mapping, in prefill (tiles of many
// tokens) and decode (one token); the packed copy holds as many bytes as the experts.
#include "golden.h"
#include "tools/quantize.h"
#include "util/thread_pool.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <filesystem>

namespace sluice::test {
namespace {

const std::string k_trained = std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf";

engine open_engine(const std::string & path, bool repack) {
    engine_options o;
    o.model_path     = path;
    o.n_threads      = 2;
    o.repack_experts = repack;
    return engine(o);
}

// Logits of a 40-token prompt in one batch, then of three tokens decoded one at a time.
std::vector<float> run(engine & e) {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < 40; ++i) {
        ids.push_back((i * 37 + 11) % static_cast<int32_t>(e.hparams().n_vocab));
    }
    session_options so;
    so.n_ctx = 64;
    session            s(e, so);
    std::vector<float> out = s.eval_all(ids);
    for (int32_t t : {5, 17, 29}) {
        const int32_t                tok[1] = {t};
        const std::span<const float> l      = s.eval(tok);
        out.insert(out.end(), l.begin(), l.end());
    }
    return out;
}

class packed_experts_test : public ::testing::TestWithParam<ggml_type> {};

TEST_P(packed_experts_test, logits_equal_the_mapped_experts) {
    const ggml_type t = GetParam();
    if (!isa_supported(isa::AVX512)) {
        GTEST_SKIP() << "this CPU has no AVX-512, whose kernels have the packed forms";
    }
    std::string path = k_trained;
    const auto  tmp  = std::filesystem::temp_directory_path() /
                     fmt::format("sluice-packed-{}-{}.gguf", type_name(t), static_cast<long>(::getpid()));
    if (t != ggml_type::Q8_0) {
        thread_pool pool(2);
        quantize_file(k_trained, tmp.string(), t, pool, quantize_scope::EXPERTS);
        path = tmp.string();
    }
    engine packed = open_engine(path, true);
    engine mapped = open_engine(path, false);
    std::filesystem::remove(tmp);
    // Size-neutral: every expert matrix has whole groups of 16 rows of whole 64-byte lines here.
    EXPECT_EQ(packed.packed_expert_bytes(), packed.net().experts().total_bytes());
    EXPECT_EQ(mapped.packed_expert_bytes(), 0u);
    const std::vector<float> want = run(mapped), got = run(packed);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << type_name(t) << " logit " << i << ": " << got[i] << " vs " << want[i];
    }
}

INSTANTIATE_TEST_SUITE_P(types, packed_experts_test,
                         ::testing::Values(ggml_type::Q8_0, ggml_type::Q4_K, ggml_type::Q5_K, ggml_type::Q6_K),
                         [](const auto & info) { return std::string(type_name(info.param)); });

// A type without a packed form, and an ISA without any, leave the experts in the mapping.
TEST(packed_experts, nothing_packed_without_a_packed_form) {
    engine_options o;
    o.model_path = k_trained;
    o.n_threads  = 2;
    o.force_isa  = isa::AVX2;
    if (!isa_supported(isa::AVX2)) {
        o.force_isa = isa::SCALAR;
    }
    engine e(o);
    EXPECT_EQ(e.packed_expert_bytes(), 0u);
}

}  // namespace
}  // namespace sluice::test
