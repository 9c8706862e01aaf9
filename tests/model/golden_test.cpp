// The forward pass against the float64 reference goldens, at the tolerances the fixtures
// README derives (F32 math over F16/F32 weights: 1e-4 for the tiny models, 3e-4 for the
// trained model whose logits are ~25x larger).
#include "golden.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

namespace sluice::test {
namespace {

struct golden_spec {
    std::string  model;   // path
    std::string  golden;  // path
    double       tol;
    const char * label;
};

void PrintTo(const golden_spec & s, std::ostream * os) {
    *os << s.label;
}

class golden_test : public ::testing::TestWithParam<golden_spec> {};

void check_against_golden(const golden_spec & spec, std::optional<isa> force) {
    if (!std::filesystem::exists(spec.model)) {
        GTEST_SKIP() << spec.model << " is not present";
    }
    engine_options eo;
    eo.model_path = spec.model;
    eo.n_threads  = 2;
    eo.force_isa  = force;
    engine               e(eo);
    const nlohmann::json g = read_json(spec.golden);
    for (const auto & c : g["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        // 1e-5: below that margin the README allows a flip (F32 vs float64 router noise).
        const case_result r = run_case(e, c, ggml_type::F32, 1e-5);
        std::printf("  %s/%s: max |logit - golden| = %.3g (%s), first allowed routing flip at %lld\n", spec.label,
                    c["name"].get<std::string>().c_str(), r.max_abs_err, r.worst.c_str(),
                    static_cast<long long>(r.first_flip));
        EXPECT_EQ(r.hard_flips, 0);
        EXPECT_LE(r.max_abs_err, spec.tol) << "worst at " << r.worst;
        if (c.contains("greedy16") && r.first_flip < 0) {
            const auto ids = c["ids"].get<std::vector<int32_t>>();
            EXPECT_EQ(greedy(e, ids, 16, ggml_type::F32), c["greedy16"]["ids"].get<std::vector<int32_t>>());
        }
    }
}

TEST_P(golden_test, logits_routing_and_greedy_match_reference) {
    check_against_golden(GetParam(), std::nullopt);
}

TEST_P(golden_test, scalar_kernels_match_reference) {
    check_against_golden(GetParam(), isa::SCALAR);
}

INSTANTIATE_TEST_SUITE_P(models, golden_test,
                         ::testing::Values(golden_spec{data_path("tiny-qwen3moe-f32.gguf"),
                                                       data_path("golden/tiny-qwen3moe-f32.json"), 1e-4, "tiny_f32"},
                                           golden_spec{data_path("tiny-qwen3moe-f16.gguf"),
                                                       data_path("golden/tiny-qwen3moe-f16.json"), 1e-4, "tiny_f16"},
                                           golden_spec{
                                               std::string(SLUICE_FIXTURES) + "/models/trained-qwen3moe-f16.gguf",
                                               data_path("golden/trained-qwen3moe-f16.json"), 3e-4, "trained_f16"}),
                         [](const auto & info) { return std::string(info.param.label); });

}  // namespace
}  // namespace sluice::test
