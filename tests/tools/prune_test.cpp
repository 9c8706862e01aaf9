// `sluice prune` against its definition: the pruned file's logits equal the original model
// run with --expert-mask of the removed experts (a masked expert's logit is -inf, so it leaves
// the softmax as a cut one does; the arithmetic is otherwise the same, row for row: 1e-5 is
// rounding headroom, routing flips would be O(0.1)); the kept experts are those with the
// largest contribution, computed here from the routing and expert outputs the model reports.
#include "tools/prune.h"

#include "util/error.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace sluice {
namespace {

std::string data(const std::string & rel) {
    return std::string(SLUICE_TEST_DATA) + "/" + rel;
}

engine open(const std::string & path) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = 2;
    return engine(o);
}

const std::vector<int32_t> k_demo = {1,  629, 282,  722, 264, 330, 4010, 4002, 4029, 4003, 500,
                                     13, 319, 4054, 950, 333, 270, 894,  894,  1089, 4017, 13};
const std::vector<int32_t> k_eval = {1, 17, 42, 99, 7, 3, 250, 64, 12, 5, 629, 282};

std::vector<float> logits(engine & e, std::shared_ptr<const routing_controls> c = nullptr) {
    session_options so;
    so.n_ctx   = 32;
    so.kv_type = ggml_type::F32;
    so.routing = std::move(c);
    session s(e, so);
    return s.eval_all(k_eval);
}

class prune_test : public ::testing::TestWithParam<const char *> {};

TEST_P(prune_test, pruned_equals_masked) {
    engine            e    = open(data(GetParam()));
    const int         keep = 5;  // of 8
    const auto        kept = choose_experts(score_experts(e, k_demo, 32), keep);
    const std::string out =
        (std::filesystem::temp_directory_path() / fmt::format("sluice-prune-{}.gguf", ::getpid())).string();
    write_pruned_model(e.file(), e.hparams(), kept, out);

    std::string mask;
    for (size_t l = 0; l < kept.size(); ++l) {
        for (int32_t x = 0; x < e.hparams().n_expert && !kept[l].empty(); ++x) {
            if (std::find(kept[l].begin(), kept[l].end(), x) == kept[l].end()) {
                mask += fmt::format("{}{}:{}", mask.empty() ? "" : ",", l, x);
            }
        }
    }
    routing_request req;
    req.mask                        = mask;
    const std::vector<float> masked = logits(e, std::make_shared<routing_controls>(e.make_routing(req)));
    engine                   pruned = open(out);
    EXPECT_EQ(pruned.hparams().n_expert, keep);
    const std::vector<float> got = logits(pruned);
    ASSERT_EQ(got.size(), masked.size());
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        worst = std::max(worst, static_cast<double>(std::abs(got[i] - masked[i])));
    }
    EXPECT_LE(worst, 1e-5);
    EXPECT_LT(std::filesystem::file_size(out), std::filesystem::file_size(data(GetParam())));
    std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(archs, prune_test,
                         ::testing::Values("tiny-qwen3moe-f32.gguf", "archs/tiny-llama-f32.gguf",
                                           "archs/tiny-olmoe-f32.gguf", "archs/tiny-qwen2moe-f32.gguf",
                                           "archs/tiny-gpt-oss-f32.gguf", "archs/tiny-qwen3next-f32.gguf"));

// The score is sum over tokens of weight x |output|: an independent observer of the same pass
// computes it from the routing weights and the expert outputs the model reports.
struct recompute final : forward_observer {
    std::vector<std::vector<double>> score;
    void on_routing(int, int64_t, std::span<const int32_t>, std::span<const float>, std::span<const float>) override {}
    void on_expert_output(int layer, int32_t e, std::span<const int64_t> pos, std::span<const float> w, const float * y,
                          int64_t d) override {
        if (score.size() <= static_cast<size_t>(layer)) {
            score.resize(layer + 1);
        }
        score[layer].resize(8);
        for (size_t r = 0; r < pos.size(); ++r) {
            double n = 0.0;
            for (int64_t c = 0; c < d; ++c) {
                n += static_cast<double>(y[r * d + c]) * y[r * d + c];
            }
            score[layer][e] += w[r] * std::sqrt(n);
        }
    }
};

TEST(prune, keeps_the_largest_contributions_and_refuses_bad_keeps) {
    engine              e = open(data("tiny-qwen3moe-f32.gguf"));
    const expert_scores s = score_experts(e, k_demo, 32);
    recompute           obs;
    session_options     so;
    so.n_ctx = 32;
    session(e, so).eval(k_demo, &obs);
    const auto kept = choose_experts(s, 3);
    for (size_t l = 0; l < kept.size(); ++l) {
        ASSERT_EQ(kept[l].size(), 3u);
        double min_kept = 1e300, max_dropped = 0.0;
        for (int32_t x = 0; x < 8; ++x) {
            EXPECT_NEAR(s.score[l][x], obs.score[l][x], 1e-9 * (1.0 + obs.score[l][x]));
            if (std::find(kept[l].begin(), kept[l].end(), x) != kept[l].end()) {
                min_kept = std::min(min_kept, obs.score[l][x]);
            } else {
                max_dropped = std::max(max_dropped, obs.score[l][x]);
            }
        }
        EXPECT_GE(min_kept, max_dropped) << "layer " << l;
    }
    EXPECT_THROW(write_pruned_model(e.file(), e.hparams(), choose_experts(s, 1), "/nonexistent/x.gguf"), error);
    engine ds = open(data("archs/tiny-deepseek2-f32.gguf"));
    EXPECT_THROW(write_pruned_model(ds.file(), ds.hparams(), choose_experts(score_experts(ds, k_demo, 32), 4),
                                    "/nonexistent/x.gguf"),
                 error);
}

}  // namespace
}  // namespace sluice
