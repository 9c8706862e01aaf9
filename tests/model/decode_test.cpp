// Properties of the forward pass that hold by construction and that later optimisations
// must keep: decoding token by token gives the same logits as one batched pass (the same
// kernels see the same rows), the F16 KV cache stays within F16 rounding of the golden,
// and the bundled Q8_0 model still continues text the way the F16 reference does.
#include "golden.h"

#include <gtest/gtest.h>

namespace sluice::test {
namespace {

engine open_engine(const std::string & path) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = 2;
    return engine(o);
}

session_options ctx_of(int64_t n, ggml_type kv, int64_t batch = 256) {
    session_options o;
    o.n_ctx   = n;
    o.kv_type = kv;
    o.n_batch = batch;
    return o;
}

class decode_test : public ::testing::TestWithParam<ggml_type> {};

TEST_P(decode_test, token_by_token_equals_one_batch) {
    engine                     e   = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    const nlohmann::json       g   = read_json(data_path("golden/tiny-qwen3moe-f32.json"));
    const std::vector<int32_t> ids = g["cases"][2]["ids"].get<std::vector<int32_t>>();
    const int64_t              V   = e.hparams().n_vocab;

    session                  batch(e, ctx_of(64, GetParam()));
    const std::vector<float> all = batch.eval_all(ids);

    session one(e, ctx_of(64, GetParam(), 1));
    for (size_t p = 0; p < ids.size(); ++p) {
        const int32_t                tok[1] = {ids[p]};
        const std::span<const float> l      = one.eval(tok);
        for (int64_t v = 0; v < V; ++v) {
            ASSERT_EQ(l[v], all[p * V + v]) << "position " << p << " token " << v;
        }
    }
    // Uneven batches (7 tokens at a time) give the same last logits too.
    session                      chunked(e, ctx_of(64, GetParam(), 7));
    const std::span<const float> last = chunked.eval(ids);
    for (int64_t v = 0; v < V; ++v) {
        ASSERT_EQ(last[v], all[(ids.size() - 1) * V + v]);
    }
}

INSTANTIATE_TEST_SUITE_P(kv, decode_test, ::testing::Values(ggml_type::F32, ggml_type::F16),
                         [](const auto & info) { return std::string(type_name(info.param)); });

TEST(routing_observer, positions_are_absolute_across_batches) {
    // The golden's routing for sample64, recorded through batches of 7 tokens: every
    // position must get its own experts (a batch-relative index would overwrite 0..6).
    engine               e   = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    const nlohmann::json g   = read_json(data_path("golden/tiny-qwen3moe-f32.json"));
    const auto &         c   = g["cases"][2];
    const auto           ids = c["ids"].get<std::vector<int32_t>>();
    session              s(e, ctx_of(64, ggml_type::F32, 7));
    routing_recorder     rec(static_cast<int>(e.hparams().n_layer));
    s.eval(ids, &rec);
    ASSERT_EQ(rec.experts.size(), ids.size());
    for (size_t p = 0; p < ids.size(); ++p) {
        for (int layer = 0; layer < rec.n_layer; ++layer) {
            const auto              want = c["routing"]["experts"][p][layer].get<std::set<int32_t>>();
            const std::set<int32_t> got(rec.experts[p][layer].begin(), rec.experts[p][layer].end());
            EXPECT_EQ(got, want) << "position " << p << " layer " << layer;
        }
    }
}

TEST(kv_cache, f16_cache_stays_within_f16_rounding_of_the_golden) {
    // Keys and values rounded to F16 (relative 2^-11) perturb the attention output by about
    // that much; the README's bound for F16-rounded activations is 5e-3.
    engine               e = open_engine(data_path("tiny-qwen3moe-f16.gguf"));
    const nlohmann::json g = read_json(data_path("golden/tiny-qwen3moe-f16.json"));
    for (const auto & c : g["cases"]) {
        const case_result r = run_case(e, c, ggml_type::F16, 1e-5);
        EXPECT_EQ(r.hard_flips, 0);
        EXPECT_LE(r.max_abs_err, 5e-3) << c["name"] << " worst at " << r.worst;
    }
}

TEST(bundled_model, q8_0_continues_like_the_f16_reference) {
    // Q8_0 rounds each weight to within half a step of 1/127 of its block's largest value
    // (<= 0.4%); over 8 layers the logits (|logit| up to ~25) move by well under 1% of
    // their range. Routing must agree wherever the reference margin is not tiny, and the
    // greedy continuation (smallest decision margin 0.077) must be the same.
    engine               e = open_engine(std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf");
    const nlohmann::json g = read_json(data_path("golden/trained-qwen3moe-f16.json"));
    for (const auto & c : g["cases"]) {
        const case_result r = run_case(e, c, ggml_type::F32, 1e-3);
        EXPECT_EQ(r.hard_flips, 0) << c["name"];
        EXPECT_LE(r.max_abs_err, 0.25) << c["name"] << " worst at " << r.worst;
        if (c.contains("greedy16")) {
            EXPECT_EQ(greedy(e, c["ids"].get<std::vector<int32_t>>(), 16, ggml_type::F16),
                      c["greedy16"]["ids"].get<std::vector<int32_t>>());
        }
    }
}

}  // namespace
}  // namespace sluice::test
