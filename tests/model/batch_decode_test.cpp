// forward_batch / decode_batch / eval_batch: one decode step over several sequences (each at
// its own position, with its own KV cache), or a step mixing prompt chunks with decode rows,
// gives every sequence the logits it would get alone, for
// every architecture (qwen3moe and the tiny files of tests/data/archs: llama, olmoe, qwen2moe
// with its shared expert, gpt-oss with biases, sinks and a sliding window). The server's
// continuous batching rests on this, including sequences joining and leaving. The same with
// the batch's experts streamed under a budget (what `serve --expert-budget` runs): the smallest
// budget that runs, where a step's experts outnumber the slots and stream in turns, and 30%,
// against each sequence alone on the model held in RAM.
#include "experts/streaming_source.h"
#include "golden.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

namespace sluice::test {
namespace {

engine open_engine(const std::string & path, const std::string & budget = "") {
    engine_options o;
    o.model_path    = path;
    o.n_threads     = 2;
    o.expert_budget = budget;
    return engine(o);
}

session_options ctx_of(int64_t n, ggml_type kv) {
    session_options o;
    o.n_ctx   = n;
    o.kv_type = kv;
    return o;
}

// Decode steps of three sequences joining and leaving, batched on `batch_engine`, each
// against the same sequence alone on `solo_engine`: logits bit-identical at every step.
void check_batched_equals_alone(engine & e, engine & solo_engine, ggml_type kv) {
    const int64_t        V = e.hparams().n_vocab;
    std::vector<int32_t> ids;  // arbitrary ids inside every vocabulary
    for (int i = 0; i < 32; ++i) {
        ids.push_back(static_cast<int32_t>((1 + 37 * i * i + 11 * i) % V));
    }

    // Three sequences with prompts of different lengths, so positions differ in every step.
    constexpr int                     n_seq   = 3;
    std::vector<std::vector<int32_t>> prompts = {
        {ids.begin(), ids.begin() + 3}, {ids.begin() + 5, ids.begin() + 12}, {ids.begin() + 1, ids.begin() + 2}};
    std::vector<std::unique_ptr<session>> batched, alone;
    for (int i = 0; i < n_seq; ++i) {
        batched.push_back(std::make_unique<session>(e, ctx_of(64, kv)));
        alone.push_back(std::make_unique<session>(solo_engine, ctx_of(64, kv)));
        batched[i]->eval(prompts[i]);
        alone[i]->eval(prompts[i]);
    }
    // Steps with all three, then with sequence 1 gone, then with it back: the batch changes
    // between steps as requests join and leave.
    const std::vector<std::vector<int>> members = {{0, 1, 2}, {0, 1, 2}, {0, 2}, {2, 0}, {1, 2, 0}, {1}};
    for (size_t step = 0; step < members.size(); ++step) {
        std::vector<session *> group;
        std::vector<int32_t>   toks;
        for (int i : members[step]) {
            group.push_back(batched[i].get());
            toks.push_back(ids[12 + step * 2 + i]);
        }
        decode_batch(group, toks);
        for (size_t r = 0; r < group.size(); ++r) {
            const int                    i      = members[step][r];
            const int32_t                one[1] = {toks[r]};
            const std::span<const float> want   = alone[i]->eval(one);
            const std::span<const float> got    = batched[i]->logits();
            ASSERT_EQ(batched[i]->n_past(), alone[i]->n_past());
            for (int64_t v = 0; v < V; ++v) {
                ASSERT_EQ(got[v], want[v]) << "step " << step << " sequence " << i << " token " << v;
            }
        }
    }
    EXPECT_EQ(batched[0]->history(), alone[0]->history());
}

// The server's steps (eval_batch): decode rows of running sequences and prompt chunks of
// sequences joining, in one pass. Each sequence's logits after its part of every step equal
// those of the same chunks fed alone (eval of the chunk), bit for bit.
void check_mixed_steps_equal_alone(engine & e, engine & solo_engine, ggml_type kv) {
    const int64_t        V = e.hparams().n_vocab;
    std::vector<int32_t> ids;
    for (int i = 0; i < 40; ++i) {
        ids.push_back(static_cast<int32_t>((3 + 29 * i * i + 7 * i) % V));
    }
    const auto part = [&](int from, int n) { return std::vector<int32_t>(ids.begin() + from, ids.begin() + from + n); };
    // Per step, per sequence: the tokens it feeds (empty: not in the step). Sequence 0 starts
    // alone with a whole prompt; 1 and 2 join with prompts in two and three chunks while the
    // others decode one token per step; the last step has a chunk and every row position differs.
    const std::vector<std::vector<std::vector<int32_t>>> steps = {
        {part(0, 4), {}, {}},
        {part(4, 1), part(10, 5), {}},
        {part(5, 1), part(15, 3), part(20, 2)},
        {part(6, 1), part(18, 1), part(22, 6)},
        {{}, part(19, 1), part(28, 1)},
        {part(7, 1), part(29, 2), part(31, 1)},
    };
    constexpr int                         n_seq = 3;
    std::vector<std::unique_ptr<session>> batched, alone;
    for (int i = 0; i < n_seq; ++i) {
        batched.push_back(std::make_unique<session>(e, ctx_of(64, kv)));
        alone.push_back(std::make_unique<session>(solo_engine, ctx_of(64, kv)));
    }
    for (size_t step = 0; step < steps.size(); ++step) {
        std::vector<session *>                group;
        std::vector<std::span<const int32_t>> chunks;
        for (int i = 0; i < n_seq; ++i) {
            if (!steps[step][i].empty()) {
                group.push_back(batched[i].get());
                chunks.emplace_back(steps[step][i]);
            }
        }
        eval_batch(group, chunks);
        for (int i = 0; i < n_seq; ++i) {
            if (steps[step][i].empty()) {
                continue;
            }
            const std::span<const float> want = alone[i]->eval(steps[step][i]);
            const std::span<const float> got  = batched[i]->logits();
            ASSERT_EQ(batched[i]->n_past(), alone[i]->n_past());
            for (int64_t v = 0; v < V; ++v) {
                ASSERT_EQ(got[v], want[v]) << "step " << step << " sequence " << i << " token " << v;
            }
        }
    }
    for (int i = 0; i < n_seq; ++i) {
        EXPECT_EQ(batched[i]->history(), alone[i]->history());
    }
}

class batch_decode_test : public ::testing::TestWithParam<std::tuple<std::string, ggml_type>> {};

TEST_P(batch_decode_test, batched_step_equals_each_sequence_alone) {
    engine e = open_engine(data_path(std::get<0>(GetParam())));
    check_batched_equals_alone(e, e, std::get<1>(GetParam()));
}

TEST_P(batch_decode_test, steps_mixing_prompt_chunks_and_decode_rows_equal_each_sequence_alone) {
    engine e = open_engine(data_path(std::get<0>(GetParam())));
    check_mixed_steps_equal_alone(e, e, std::get<1>(GetParam()));
}

class streamed_batch_test : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(streamed_batch_test, streamed_batch_equals_each_sequence_alone_in_ram) {
    const std::string path   = data_path(std::get<0>(GetParam()));
    engine            ram    = open_engine(path);
    std::string       budget = std::get<1>(GetParam());
    if (budget == "min") {
        budget = std::to_string(streaming_expert_source::minimum_budget(ram.net().experts(),
                                                                        static_cast<int>(ram.hparams().n_expert_used)));
    }
    engine streamed = open_engine(path, budget);
    ASSERT_TRUE(streamed.streaming_stats().has_value());
    check_batched_equals_alone(streamed, ram, ggml_type::F32);
    check_mixed_steps_equal_alone(streamed, ram, ggml_type::F32);
    const layer_stream_stats t = streamed.streaming_stats()->total();
    EXPECT_GT(t.misses, 0u);  // experts were read from disk during the steps
}

INSTANTIATE_TEST_SUITE_P(models, streamed_batch_test,
                         ::testing::Combine(::testing::Values("tiny-qwen3moe-f32.gguf", "archs/tiny-deepseek2-f32.gguf",
                                                              "archs/tiny-qwen3next-f32.gguf"),
                                            ::testing::Values("min", "30%")),
                         [](const auto & info) {
                             std::string name = std::get<0>(info.param);
                             name             = name.substr(name.rfind('/') + 1);
                             name             = name.substr(0, name.find('.'));
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name + (std::get<1>(info.param) == "min" ? "_min" : "_30pct");
                         });

INSTANTIATE_TEST_SUITE_P(
    models, batch_decode_test,
    ::testing::Combine(::testing::Values("tiny-qwen3moe-f32.gguf", "archs/tiny-llama-f32.gguf",
                                         "archs/tiny-olmoe-f32.gguf", "archs/tiny-qwen2moe-f32.gguf",
                                         "archs/tiny-gpt-oss-f32.gguf", "archs/tiny-deepseek2-f32.gguf",
                                         "archs/tiny-qwen3next-f32.gguf"),
                       ::testing::Values(ggml_type::F32, ggml_type::F16)),
    [](const auto & info) {
        std::string name = std::get<0>(info.param);
        name             = name.substr(name.rfind('/') + 1);
        name             = name.substr(0, name.find('.'));
        std::replace(name.begin(), name.end(), '-', '_');
        return name + "_" + std::string(type_name(std::get<1>(info.param)));
    });

TEST(batch_decode, rejects_a_session_twice_and_a_full_context) {
    engine  e = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    session a(e, ctx_of(2, ggml_type::F32));
    session b(e, ctx_of(8, ggml_type::F32));
    a.eval(std::vector<int32_t>{1});
    b.eval(std::vector<int32_t>{1});
    std::vector<session *> twice = {&a, &a};
    EXPECT_THROW(decode_batch(twice, std::vector<int32_t>{5, 6}), error);
    std::vector<session *> both = {&a, &b};
    decode_batch(both, std::vector<int32_t>{5, 6});  // a is now full (2 of 2)
    EXPECT_THROW(decode_batch(both, std::vector<int32_t>{5, 6}), error);
    EXPECT_EQ(b.n_past(), 2);  // a failed step leaves the others untouched
}

TEST(batch_decode, a_step_rejects_an_empty_chunk_and_a_chunk_past_the_context) {
    engine  e = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    session a(e, ctx_of(4, ggml_type::F32));
    session b(e, ctx_of(8, ggml_type::F32));
    b.eval(std::vector<int32_t>{1});
    const std::vector<int32_t>            three = {1, 2, 3}, none;
    std::vector<session *>                both  = {&a, &b};
    std::vector<std::span<const int32_t>> empty = {three, none};
    EXPECT_THROW(eval_batch(both, empty), error);
    const std::vector<int32_t>            five = {1, 2, 3, 4, 5};
    std::vector<std::span<const int32_t>> over = {five, three};  // 5 tokens in a context of 4
    EXPECT_THROW(eval_batch(both, over), error);
    EXPECT_EQ(a.n_past(), 0);  // nothing changed
    EXPECT_EQ(b.n_past(), 1);
    std::vector<std::span<const int32_t>> fits = {three, three};
    eval_batch(both, fits);
    EXPECT_EQ(a.n_past(), 3);
    EXPECT_EQ(b.n_past(), 4);
}

// The server's prompt cache: a session rewound to a prefix of its history and fed a new
// continuation gives the logits a fresh session gives for the whole new prompt, bit for bit.
TEST(session_rewind, a_rewound_session_equals_a_fresh_one_and_recurrent_models_refuse) {
    engine                     e     = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    const std::vector<int32_t> first = {1, 17, 230, 45, 9, 301, 77}, second = {1, 17, 230, 45, 88, 5};
    session                    reused(e, ctx_of(32, ggml_type::F32)), fresh(e, ctx_of(32, ggml_type::F32));
    reused.eval(first);
    reused.rewind(4);
    EXPECT_EQ(reused.n_past(), 4);
    EXPECT_EQ(reused.history(), std::vector<int32_t>(first.begin(), first.begin() + 4));
    const std::span<const float> got  = reused.eval(std::span<const int32_t>(second).subspan(4));
    const std::span<const float> want = fresh.eval(second);
    ASSERT_EQ(got.size(), want.size());
    for (size_t v = 0; v < got.size(); ++v) {
        ASSERT_EQ(got[v], want[v]) << "token " << v;
    }
    EXPECT_THROW(reused.rewind(7), error);  // more than it holds
    reused.rewind(0);
    EXPECT_EQ(reused.n_past(), 0);

    engine  next = open_engine(data_path("archs/tiny-qwen3next-f32.gguf"));
    session rec(next, ctx_of(32, ggml_type::F32));
    rec.eval(first);
    EXPECT_FALSE(rec.can_rewind());
    EXPECT_THROW(rec.rewind(4), error);  // its DeltaNet state cannot go back
    rec.rewind(7);                       // keeping everything is fine
    EXPECT_EQ(rec.n_past(), 7);
}

}  // namespace
}  // namespace sluice::test
