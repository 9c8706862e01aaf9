// The router, one routing variant at a time, against values worked out by hand (the logits
// are chosen so that exp/sigmoid give round numbers).
#include "experts/router.h"

#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sluice {
namespace {

struct routed {
    std::vector<int32_t> ids;
    std::vector<float>   weights, probs;
};

routed route(const router & r, const std::vector<float> & logits) {
    routed             out{std::vector<int32_t>(r.k), std::vector<float>(r.k), std::vector<float>(r.n_expert)};
    std::vector<float> scratch(r.n_expert);
    r.route(logits.data(), out.probs.data(), scratch.data(), out.ids.data(), out.weights.data());
    return out;
}

const float ln2 = std::log(2.0f), ln3 = std::log(3.0f), ln4 = std::log(4.0f);

TEST(router, softmax_then_top_k) {
    // exp(logits) = 1, 2, 4, 1 (sum 8): probabilities 1/8, 1/4, 1/2, 1/8.
    router r{.n_expert = 4, .k = 2};
    auto   got = route(r, {0.0f, ln2, ln4, 0.0f});
    EXPECT_EQ(got.ids, (std::vector<int32_t>{2, 1}));
    EXPECT_NEAR(got.weights[0], 0.5f, 1e-6f);  // Qwen2-MoE: left as probabilities
    EXPECT_NEAR(got.weights[1], 0.25f, 1e-6f);
    EXPECT_NEAR(got.probs[0], 0.125f, 1e-6f);
    EXPECT_NEAR(got.probs[3], 0.125f, 1e-6f);

    r.normalize = true;  // Qwen3-MoE, Mixtral: renormalised over the chosen
    got         = route(r, {0.0f, ln2, ln4, 0.0f});
    EXPECT_NEAR(got.weights[0], 2.0f / 3.0f, 1e-6f);
    EXPECT_NEAR(got.weights[1], 1.0f / 3.0f, 1e-6f);
}

TEST(router, ties_go_to_the_lower_id) {
    const router r{.n_expert = 4, .k = 2};
    EXPECT_EQ(route(r, {0.0f, 1.0f, 1.0f, 1.0f}).ids, (std::vector<int32_t>{1, 2}));
}

TEST(router, top_k_then_softmax_over_the_chosen) {
    // gpt-oss: logits 0, 1, 3, 2 choose experts 2 and 3; their weights are softmax(3, 2)
    // = 1 / (1 + e^-1) and e^-1 / (1 + e^-1); probs stay the softmax over all four.
    const router r{.scoring = router_scoring::SOFTMAX_OF_TOP_K, .n_expert = 4, .k = 2};
    const auto   got = route(r, {0.0f, 1.0f, 3.0f, 2.0f});
    EXPECT_EQ(got.ids, (std::vector<int32_t>{2, 3}));
    EXPECT_NEAR(got.weights[0], 1.0f / (1.0f + std::exp(-1.0f)), 1e-6f);
    EXPECT_NEAR(got.weights[1], 1.0f / (1.0f + std::exp(1.0f)), 1e-6f);
    const float z = 1.0f + std::exp(1.0f) + std::exp(3.0f) + std::exp(2.0f);
    EXPECT_NEAR(got.probs[2], std::exp(3.0f) / z, 1e-6f);
}

TEST(router, sigmoid_with_selection_bias_normalised_and_scaled) {
    // Sigmoid scores 1/2, 1/2, 3/4, 1/4; the bias (0, .3, 0, .6) makes the choice 3 (.85)
    // then 1 (.8), ahead of 2 (.75). Weights are the unbiased scores 1/4, 1/2, renormalised
    // to 1/3, 2/3, times 2.5.
    const std::vector<float> bias = {0.0f, 0.3f, 0.0f, 0.6f};
    const router             r{.scoring        = router_scoring::SIGMOID,
                               .selection_bias = bias.data(),
                               .n_expert       = 4,
                               .k              = 2,
                               .normalize      = true,
                               .scale          = 2.5f};
    const auto               got = route(r, {0.0f, 0.0f, ln3, -ln3});
    EXPECT_EQ(got.ids, (std::vector<int32_t>{3, 1}));
    EXPECT_NEAR(got.weights[0], 2.5f / 3.0f, 1e-6f);
    EXPECT_NEAR(got.weights[1], 5.0f / 3.0f, 1e-6f);
    EXPECT_NEAR(got.probs[2], 0.75f, 1e-6f);  // reported unbiased
}

TEST(router, groups_limit_the_choice_to_the_best_groups) {
    // Sigmoid scores by group of two: (.9, .1) (.6, .6) (.7, .55) (.2, .2). Pair sums 1.0,
    // 1.2, 1.25, 0.4 keep groups 2 and 1, so expert 0 (.9, the best alone) is out: the
    // choice is 4 (.7) and 2 (.6, lower id than 3), weights .7/1.3 and .6/1.3.
    const std::vector<float> s = {0.9f, 0.1f, 0.6f, 0.6f, 0.7f, 0.55f, 0.2f, 0.2f};
    std::vector<float>       logits;
    for (float p : s) {
        logits.push_back(std::log(p / (1.0f - p)));
    }
    router r{
        .scoring = router_scoring::SIGMOID, .n_group = 4, .n_group_used = 2, .n_expert = 8, .k = 2, .normalize = true};
    auto got = route(r, logits);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{4, 2}));
    EXPECT_NEAR(got.weights[0], 0.7f / 1.3f, 1e-5f);
    EXPECT_NEAR(got.weights[1], 0.6f / 1.3f, 1e-5f);

    r.n_group = r.n_group_used = 1;  // without groups the best two overall
    EXPECT_EQ(route(r, logits).ids, (std::vector<int32_t>{0, 4}));
}

TEST(router, logits_add_the_bias_and_ranking_scores_follow_the_choice) {
    // A 3 x 2 router on one row h = (1, 2): logits (1, 2, 3) . h-weights + bias.
    const std::vector<float> w = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f}, bias = {0.5f, 0.0f, -1.0f}, h = {1.0f, 2.0f};
    thread_pool              pool(1);
    matmul_runner            mm(pool, isa::SCALAR);
    const router r{.weight     = {ggml_type::F32, 3, 2, 2 * sizeof(float), reinterpret_cast<const uint8_t *>(w.data())},
                   .logit_bias = bias.data(),
                   .n_expert   = 3,
                   .k          = 1};
    std::vector<float> lg(3);
    r.logits(h.data(), 1, mm, lg.data());
    EXPECT_FLOAT_EQ(lg[0], 1.5f);
    EXPECT_FLOAT_EQ(lg[1], 2.0f);
    EXPECT_FLOAT_EQ(lg[2], 2.0f);

    // Softmax without a selection bias ranks by the logits themselves.
    std::vector<float> s = lg;
    r.ranking_scores(s.data(), 1);
    EXPECT_EQ(s, lg);

    // Sigmoid + selection bias ranks by sigmoid(logit) + bias, as the choice does.
    const std::vector<float> sel = {0.0f, 0.0f, 0.5f};
    const router       sg{.scoring = router_scoring::SIGMOID, .selection_bias = sel.data(), .n_expert = 3, .k = 1};
    std::vector<float> t = {0.0f, ln3, ln3};
    sg.ranking_scores(t.data(), 1);
    EXPECT_NEAR(t[0], 0.5f, 1e-6f);
    EXPECT_NEAR(t[1], 0.75f, 1e-6f);
    EXPECT_NEAR(t[2], 1.25f, 1e-6f);
}

}  // namespace
}  // namespace sluice
