// The sampler against hand-computed distributions and rules.
#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sluice {
namespace {

sampler_params plain(float temp, uint64_t seed = 1) {
    sampler_params p;
    p.temperature = temp;
    p.top_k       = 0;
    p.top_p       = 1.0f;
    p.min_p       = 0.0f;
    p.seed        = seed;
    return p;
}

std::vector<float> logits_of(const std::vector<double> & probs) {
    std::vector<float> l;
    for (double p : probs) {
        l.push_back(static_cast<float>(std::log(p)));
    }
    return l;
}

std::vector<double> frequencies(sampler & s, const std::vector<float> & l, int n) {
    std::vector<double> f(l.size());
    for (int i = 0; i < n; ++i) {
        f[s.sample(l, {})] += 1.0 / n;
    }
    return f;
}

TEST(sampler, greedy_takes_the_argmax_lowest_id_on_ties) {
    sampler s(plain(0.0f));
    EXPECT_EQ(s.sample(std::vector<float>{0.1f, 2.0f, -1.0f, 2.0f}, {}), 1);
}

TEST(sampler, temperature_one_follows_the_softmax) {
    // 40000 draws: the standard error of a frequency near 0.3 is 0.0023; 0.012 is 5 sigma.
    sampler    s(plain(1.0f));
    const auto f = frequencies(s, logits_of({0.5, 0.3, 0.2}), 40000);
    EXPECT_NEAR(f[0], 0.5, 0.012);
    EXPECT_NEAR(f[1], 0.3, 0.012);
    EXPECT_NEAR(f[2], 0.2, 0.012);
}

TEST(sampler, temperature_sharpens) {
    // At T = 0.5 probabilities go as p^2: 0.25, 0.09, 0.04 -> 0.658, 0.237, 0.105.
    sampler    s(plain(0.5f));
    const auto f = frequencies(s, logits_of({0.5, 0.3, 0.2}), 40000);
    EXPECT_NEAR(f[0], 0.25 / 0.38, 0.012);
    EXPECT_NEAR(f[2], 0.04 / 0.38, 0.012);
}

TEST(sampler, top_k_top_p_min_p_cut_the_tail) {
    const auto l = logits_of({0.5, 0.3, 0.15, 0.05});
    auto       p = plain(1.0f);
    p.top_k      = 2;  // only ids 0 and 1 survive, renormalised 0.625 / 0.375
    sampler k(p);
    auto    f = frequencies(k, l, 20000);
    EXPECT_EQ(f[2] + f[3], 0.0);
    EXPECT_NEAR(f[0], 0.625, 0.02);

    p       = plain(1.0f);
    p.top_p = 0.85f;  // 0.5 + 0.3 + 0.15 = 0.95 is the first prefix >= 0.85
    sampler tp(p);
    f = frequencies(tp, l, 20000);
    EXPECT_EQ(f[3], 0.0);
    EXPECT_GT(f[2], 0.0);

    p       = plain(1.0f);
    p.min_p = 0.35f;  // keeps p >= 0.175: ids 0 and 1
    sampler mp(p);
    f = frequencies(mp, l, 20000);
    EXPECT_EQ(f[2] + f[3], 0.0);
}

TEST(sampler, same_seed_same_tokens_other_seed_other_tokens) {
    const auto           l = logits_of({0.2, 0.2, 0.2, 0.2, 0.2});
    sampler              a(plain(1.0f, 7)), b(plain(1.0f, 7)), c(plain(1.0f, 8));
    std::vector<int32_t> ta, tb, tc;
    for (int i = 0; i < 64; ++i) {
        ta.push_back(a.sample(l, {}));
        tb.push_back(b.sample(l, {}));
        tc.push_back(c.sample(l, {}));
    }
    EXPECT_EQ(ta, tb);
    EXPECT_NE(ta, tc);
}

TEST(sampler, repetition_penalty_divides_positive_and_multiplies_negative_logits) {
    // logits {2, 1.9, -1}; id 0 seen: 2 / 2 = 1 < 1.9, so greedy now picks id 1.
    sampler_params p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    sampler                  s(p);
    const std::vector<float> l       = {2.0f, 1.9f, -1.0f};
    const int32_t            seen[1] = {0};
    EXPECT_EQ(s.sample(l, seen), 1);
    // A negative logit gets more negative: {-1, -1.5}, id 0 seen -> -2 < -1.5.
    const std::vector<float> neg = {-1.0f, -1.5f};
    EXPECT_EQ(s.sample(neg, seen), 1);
}

}  // namespace
}  // namespace sluice
