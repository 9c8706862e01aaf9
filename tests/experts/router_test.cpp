// The router, one routing variant at a time, against values worked out by hand (the logits
// are chosen so that exp/sigmoid give round numbers).
#include "experts/router.h"

#include "util/error.h"
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

routed route(const router & r, const std::vector<float> & logits, const routing_controls * c = nullptr, int layer = 0) {
    const int     slots = c != nullptr ? c->max_experts(r.n_expert, r.k) : r.k;
    routed        out{std::vector<int32_t>(slots), std::vector<float>(slots), std::vector<float>(r.n_expert)};
    route_scratch scratch;
    const int     n = r.route(logits.data(), out.probs.data(), scratch, out.ids.data(), out.weights.data(), c, layer);
    out.ids.resize(n);
    out.weights.resize(n);
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

// Routing controls (experts/routing_controls.h), by hand. exp(logits) = 1, 2, 4, 1 (sum 8):
// probabilities 1/8, 1/4, 1/2, 1/8 in every test below.
const std::vector<float> k_logits = {0.0f, ln2, ln4, 0.0f};

TEST(router_controls, top_p_takes_the_fewest_experts_reaching_p) {
    const router     r{.n_expert = 4, .k = 2, .normalize = true};
    routing_controls c;
    c.top_p = 0.5f;  // expert 2 alone holds 1/2
    EXPECT_EQ(route(r, k_logits, &c).ids, (std::vector<int32_t>{2}));
    EXPECT_NEAR(route(r, k_logits, &c).weights[0], 1.0f, 1e-6f);
    c.top_p = 0.7f;  // 1/2 + 1/4 = 3/4 >= 0.7
    EXPECT_EQ(route(r, k_logits, &c).ids, (std::vector<int32_t>{2, 1}));
    c.top_p          = 0.8f;  // 3/4 < 0.8: a third expert (0, the lower id of the tie with 3)
    const routed got = route(r, k_logits, &c);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{2, 1, 0}));
    EXPECT_NEAR(got.weights[2], (1.0f / 8) / (7.0f / 8), 1e-6f);
    c.max_k = 2;  // bounded
    EXPECT_EQ(route(r, k_logits, &c).ids.size(), 2u);
    c       = {};
    c.top_p = 0.1f;
    c.min_k = 3;  // at least 3
    EXPECT_EQ(route(r, k_logits, &c).ids.size(), 3u);
    c       = {};
    c.top_p = 1.0f;  // every expert
    EXPECT_EQ(route(r, k_logits, &c).ids, (std::vector<int32_t>{2, 1, 0, 3}));
}

TEST(router_controls, mask_removes_the_expert_from_the_softmax) {
    // Masking expert 2: exp = 1, 2, -, 1 (sum 4): probabilities 1/4, 1/2, 0, 1/4.
    const router     r{.n_expert = 4, .k = 2};
    routing_controls c;
    c.layers.resize(2);
    c.layers[1].masked = {0, 0, 1, 0};
    const routed got   = route(r, k_logits, &c, 1);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 0}));
    EXPECT_NEAR(got.weights[0], 0.5f, 1e-6f);
    EXPECT_NEAR(got.weights[1], 0.25f, 1e-6f);
    EXPECT_EQ(got.probs[2], 0.0f);
    EXPECT_EQ(route(r, k_logits, &c, 0).ids, (std::vector<int32_t>{2, 1}));  // layer 0 untouched

    // Sigmoid with a selection bias that would pick the masked expert: it is never chosen.
    const std::vector<float> bias = {0.0f, 0.0f, 0.0f, 5.0f};
    const router s{.scoring = router_scoring::SIGMOID, .selection_bias = bias.data(), .n_expert = 4, .k = 2};
    c.layers[1].masked = {0, 0, 0, 1};
    EXPECT_EQ(route(s, k_logits, &c, 1).ids, (std::vector<int32_t>{2, 1}));
}

TEST(router_controls, force_chooses_first_and_may_set_the_weight) {
    const router     r{.n_expert = 4, .k = 2, .normalize = true};
    routing_controls c;
    c.layers.resize(1);
    c.layers[0].force_weight = {NAN, NAN, NAN, -1.0f};  // expert 3, with its routed weight
    routed got               = route(r, k_logits, &c);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{3, 2}));
    EXPECT_NEAR(got.weights[0], (1.0f / 8) / (5.0f / 8), 1e-6f);  // renormalised over 1/8 + 1/2
    EXPECT_NEAR(got.weights[1], (1.0f / 2) / (5.0f / 8), 1e-6f);
    c.layers[0].force_weight[3] = 0.3f;  // a fixed weight, after renormalisation
    got                         = route(r, k_logits, &c);
    EXPECT_NEAR(got.weights[0], 0.3f, 1e-6f);
    EXPECT_NEAR(got.weights[1], 0.8f, 1e-6f);
}

TEST(router_controls, steer_adds_offsets_to_the_logits) {
    // +ln 8 on expert 0: exp = 8, 2, 4, 1 (sum 15).
    const router     r{.n_expert = 4, .k = 2};
    routing_controls c;
    c.layers.resize(1);
    c.layers[0].logit_offset = {std::log(8.0f), 0.0f, 0.0f, 0.0f};
    const routed got         = route(r, k_logits, &c);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{0, 2}));
    EXPECT_NEAR(got.weights[0], 8.0f / 15, 1e-6f);
    EXPECT_NEAR(got.weights[1], 4.0f / 15, 1e-6f);
}

TEST(router_controls, skip_drops_small_weights_scaled_by_layer_importance) {
    const router     r{.n_expert = 4, .k = 3};  // weights 1/2, 1/4, 1/8 (not renormalised)
    routing_controls c;
    c.skip_threshold = 0.2f;
    EXPECT_EQ(route(r, k_logits, &c).ids, (std::vector<int32_t>{2, 1}));  // 1/8 < 0.2
    c.layer_importance = {0.5f};                                          // 1/4 x 0.5 < 0.2 too
    EXPECT_EQ(route(r, k_logits, &c).ids, (std::vector<int32_t>{2}));
    c.skip_threshold = 10.0f;  // the best always stays
    EXPECT_EQ(route(r, k_logits, &c).ids, (std::vector<int32_t>{2}));
}

TEST(router_controls, prefer_cached_swaps_in_a_resident_expert_within_the_margin) {
    // Chosen: 2 (1/2) and 1 (1/4); expert 1 is not resident, 0 and 3 (1/8 each) are.
    const router               r{.n_expert = 4, .k = 2};
    const std::vector<uint8_t> resident = {1, 0, 1, 1};
    routing_controls           c;
    c.prefer_cached = 0.2f;  // 1/4 - 1/8 <= 0.2: expert 0 (the lower id of the tie) instead
    route_scratch        scratch;
    std::vector<int32_t> ids(2);
    std::vector<float>   w(2), probs(4);
    ASSERT_EQ(r.route(k_logits.data(), probs.data(), scratch, ids.data(), w.data(), &c, 0, resident.data()), 2);
    EXPECT_EQ(ids, (std::vector<int32_t>{2, 0}));
    EXPECT_NEAR(w[1], 0.125f, 1e-6f);
    c.prefer_cached = 0.1f;  // 0.125 > 0.1: no swap
    r.route(k_logits.data(), probs.data(), scratch, ids.data(), w.data(), &c, 0, resident.data());
    EXPECT_EQ(ids, (std::vector<int32_t>{2, 1}));
    c.prefer_cached = 0.2f;  // a forced expert is never swapped out
    c.layers.resize(1);
    c.layers[0].force_weight = {NAN, -1.0f, NAN, NAN};
    r.route(k_logits.data(), probs.data(), scratch, ids.data(), w.data(), &c, 0, resident.data());
    EXPECT_EQ(ids, (std::vector<int32_t>{1, 2}));
}

TEST(router_controls, spec_parsing) {
    const auto refs = parse_expert_spec("3-4:2,9, *:0", "--expert-mask", 6, 16, false);
    // 3:2, 4:2, 3:9, 4:9 (the bare 9 continues layers 3-4), then 0..5:0.
    ASSERT_EQ(refs.size(), 10u);
    EXPECT_EQ(refs[0].layer, 3);
    EXPECT_EQ(refs[0].expert, 2);
    EXPECT_EQ(refs[3].layer, 4);
    EXPECT_EQ(refs[3].expert, 9);
    EXPECT_EQ(refs[9].layer, 5);
    EXPECT_EQ(refs[9].expert, 0);
    const auto forced = parse_expert_spec("1:4=0.25", "--expert-force", 6, 16, true);
    EXPECT_FLOAT_EQ(forced.at(0).weight, 0.25f);
    for (const char * bad : {"", "7:0", "0:16", "x:1", "1:2=0.5", "1:-3", ",", "5"}) {
        EXPECT_THROW(parse_expert_spec(bad, "--expert-mask", 6, 16, false), error) << bad;
    }
}

}  // namespace
}  // namespace sluice
