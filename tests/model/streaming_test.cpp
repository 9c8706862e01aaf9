// Streaming experts from disk changes timing, never results: under every predictor, cache
// policy and budget (down to the smallest that runs), logits are bit-identical to the
// in-RAM run, in batched prefill (where a batch routes to more experts than the cache
// holds) and in token-by-token decode, for every architecture. Bad budgets and bad files
// are clear errors.
#include "experts/streaming_source.h"
#include "golden.h"
#include "util/error.h"
#include "util/memory_cgroup.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

namespace sluice::test {
namespace {

engine_options options_for(const std::string & path, const std::string & budget = "",
                           predictor_kind p = predictor_kind::NONE, eviction_policy ev = eviction_policy::LRU) {
    engine_options o;
    o.model_path          = path;
    o.n_threads           = 2;
    o.expert_budget       = budget;
    o.streaming.predictor = p;
    o.streaming.eviction  = ev;
    return o;
}

// Logits of a prefill in batches of 5, then of 6 more tokens decoded one at a time.
std::vector<float> run_ids(engine & e, const std::vector<int32_t> & ids) {
    return prefill_then_decode(e, ids, 6, 5, 128);
}

struct model_case {
    std::string          name;
    std::string          path;
    std::vector<int32_t> ids;
};

std::vector<model_case> model_cases() {
    std::vector<model_case> cases;
    const nlohmann::json    g = read_json(data_path("golden/tiny-qwen3moe-f32.json"));
    cases.push_back({"tiny", data_path("tiny-qwen3moe-f32.gguf"), g["cases"][2]["ids"].get<std::vector<int32_t>>()});
    std::vector<int32_t> ids;
    for (int i = 0; i < 40; ++i) {
        ids.push_back((i * 7919 + 13) % 2000 + 10);
    }
    cases.push_back({"trained", std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf", ids});
    return cases;
}

struct stream_case {
    predictor_kind  predictor;
    eviction_policy eviction;
    const char *    budget;  // "min": the smallest budget that runs
};

std::string case_name(const stream_case & c) {
    std::string b = c.budget;
    if (b.back() == '%') {
        b = b.substr(0, b.size() - 1) + "pct";
    }
    const std::string p =
        c.predictor == predictor_kind::CROSS_LAYER ? "cross_layer" : std::string(name_of(c.predictor));
    return p + "_" + std::string(name_of(c.eviction)) + "_" + b;
}

// Runs m under c and expects the logits `want` of the in-RAM engine `ram`, bit for bit, and
// counters that add up. Blocks without experts (deepseek2's dense lead) see no requests,
// reads or predictions: a predictor skips to the next MoE block.
void expect_identical(const model_case & m, const engine & ram, const std::vector<float> & want,
                      const stream_case & c) {
    const std::string where  = m.name + " " + case_name(c);
    std::string       budget = c.budget;
    if (budget == "min") {
        budget = std::to_string(streaming_expert_source::minimum_budget(ram.net().experts(),
                                                                        static_cast<int>(ram.hparams().n_expert_used)));
    }
    engine                   e(options_for(m.path, budget, c.predictor, c.eviction));
    const std::vector<float> got = run_ids(e, m.ids);
    ASSERT_EQ(got.size(), want.size()) << where;
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], want[i]) << where << " logit " << i;
    }
    const stream_stats st = *e.streaming_stats();
    const auto         t  = st.total();
    EXPECT_EQ(t.hits + t.late + t.misses, t.requests) << where;
    EXPECT_LE(st.cache_bytes, st.budget) << where;
    EXPECT_GT(t.bytes_read, 0u) << where;
    if (c.predictor == predictor_kind::NONE) {
        EXPECT_EQ(t.predicted, 0u) << where;  // its only prefetches are a batch's next turn
    } else {
        EXPECT_GT(t.predicted, 0u) << where;
    }
    const expert_store & store = e.net().experts();
    for (int l = 0; l < store.n_layer(); ++l) {
        const layer_stream_stats & ls = st.layers[static_cast<size_t>(l)];
        if (!store.has_experts(l)) {
            EXPECT_EQ(ls.requests + ls.reads + ls.predicted, 0u) << where << " dense block " << l;
        } else if (c.predictor == predictor_kind::CROSS_LAYER && l > 0) {
            // Every MoE block after the first block is predicted from the one before it,
            // dense or not.
            EXPECT_GT(ls.predicted, 0u) << where << " block " << l;
        }
    }
}

class streaming_identity : public ::testing::TestWithParam<stream_case> {};

TEST_P(streaming_identity, logits_are_bit_identical_to_in_ram) {
    const stream_case c = GetParam();
    for (const model_case & m : model_cases()) {
        engine                   ram(options_for(m.path));
        const std::vector<float> want = run_ids(ram, m.ids);
        expect_identical(m, ram, want, c);
    }
}

INSTANTIATE_TEST_SUITE_P(all, streaming_identity,
                         ::testing::Values(stream_case{predictor_kind::NONE, eviction_policy::LRU, "min"},
                                           stream_case{predictor_kind::NONE, eviction_policy::LFU, "30%"},
                                           stream_case{predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE, "min"},
                                           stream_case{predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE, "30%"},
                                           stream_case{predictor_kind::CROSS_LAYER, eviction_policy::LRU, "100%"},
                                           stream_case{predictor_kind::HISTORY, eviction_policy::LFU, "50%"},
                                           stream_case{predictor_kind::HISTORY, eviction_policy::PREDICTIVE, "min"},
                                           stream_case{predictor_kind::NONE, eviction_policy::DECAY, "min"},
                                           stream_case{predictor_kind::CROSS_LAYER, eviction_policy::DECAY, "30%"}),
                         [](const auto & info) { return case_name(info.param); });

// The other architectures' fixtures (tests/data/archs), 41 tokens each, under the smallest
// budget and 30% with each kind of predictor: deepseek2 (MLA, a dense leading block whose
// gate is not routed, group-limited sigmoid routing, shared experts), qwen3next (recurrent
// state, sigmoid-gated shared expert) and the shared-transformer ones (gpt-oss's expert
// biases, qwen2moe's shared expert, ...). The in-RAM run is made once per model.
class streaming_archs : public ::testing::TestWithParam<const char *> {};

TEST_P(streaming_archs, logits_are_bit_identical_to_in_ram) {
    const std::string        arch = GetParam();
    const nlohmann::json     g    = read_json(data_path("archs/tiny-" + arch + "-f32.json"));
    const model_case         m{arch, data_path("archs/tiny-" + arch + "-f32.gguf"),
                       g["cases"][1]["ids"].get<std::vector<int32_t>>()};
    engine                   ram(options_for(m.path));
    const std::vector<float> want = run_ids(ram, m.ids);
    for (const stream_case & c : {stream_case{predictor_kind::NONE, eviction_policy::LRU, "min"},
                                  stream_case{predictor_kind::NONE, eviction_policy::LFU, "30%"},
                                  stream_case{predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE, "min"},
                                  stream_case{predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE, "30%"},
                                  stream_case{predictor_kind::HISTORY, eviction_policy::PREDICTIVE, "min"},
                                  stream_case{predictor_kind::HISTORY, eviction_policy::LFU, "30%"},
                                  stream_case{predictor_kind::NONE, eviction_policy::DECAY, "30%"}}) {
        expect_identical(m, ram, want, c);
    }
}

INSTANTIATE_TEST_SUITE_P(archs, streaming_archs,
                         ::testing::Values("deepseek2", "qwen3next", "llama", "olmoe", "qwen2moe", "gpt-oss"),
                         [](const auto & info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

TEST(streaming, cross_layer_prediction_is_better_than_chance_on_learned_routing) {
    // The trained model routes by what it learned; the next layer's gate on this layer's
    // stream names most of the experts it then uses. Its trainer measured the recall of the
    // k + 2 = 6 best guesses on held-out text (golden/trained-routing-stats.json, variant B
    // = what the cross-layer predictor computes): 0.48 for layer 0 -> 1, 0.91-0.96 after.
    // The live cache's recall over these tokens, one per pass, must come near that mean
    // (the per-layer numbers weigh layers alike), far above chance (6/32).
    const model_case     m      = model_cases()[1];
    const nlohmann::json g      = read_json(data_path("golden/trained-routing-stats.json"));
    double               golden = 0.0;
    for (double r : g["cross_layer_recall"]["variantB_recall_at_top6_per_layer"]) {
        golden += r / 7.0;
    }
    engine               e(options_for(m.path, "30%", predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE));
    std::ifstream        in(data_path("corpus/python.txt"));
    const std::string    text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int32_t> ids = e.require_tokenizer().encode(text, true, false);
    ids.resize(96);  // held-out text, as the golden's
    session s(e, session_options{.n_ctx = 128, .kv_type = ggml_type::F32, .n_batch = 1});
    s.eval(ids);  // one token per pass: each guess is that token's own
    const layer_stream_stats t = e.streaming_stats()->total();
    std::printf("cross-layer recall %.3f (golden mean at 6 guesses %.3f)\n", t.recall(), golden);
    EXPECT_NEAR(t.recall(), golden, 0.05) << "recall " << t.recall();  // measured: 0.872
}

TEST(streaming, a_budget_below_one_token_of_experts_is_a_clear_error) {
    const model_case m = model_cases()[0];
    engine           ram(options_for(m.path));
    const uint64_t   min =
        streaming_expert_source::minimum_budget(ram.net().experts(), static_cast<int>(ram.hparams().n_expert_used));
    try {
        engine e(options_for(m.path, std::to_string(min - 1)));
        FAIL() << "accepted a budget below the minimum";
    } catch (const error & err) {
        EXPECT_NE(std::string(err.what()).find("too small"), std::string::npos) << err.what();
        EXPECT_NE(std::string(err.what()).find(std::to_string(min)), std::string::npos) << err.what();
    }
    EXPECT_THROW(engine(options_for(m.path, "lots")), error);
}

// Starts an engine with `o` in a child inside a memory cgroup of 16 MiB: what it threw, or
// "accepted"; nullopt where no cgroup can be made (not root).
std::optional<memory_cgroup::child_result> start_in_16_mib(const engine_options & o) {
    const std::optional<memory_cgroup> group =
        memory_cgroup::make(fmt::format("sluice-streaming-test-{}", ::getpid()), uint64_t{16} << 20);
    if (!group) {
        return std::nullopt;
    }
    return group->run_child([&] {
        try {
            engine e(o);
        } catch (const error & err) {
            return std::string(err.what());
        }
        return std::string("accepted");
    });
}

// The slots are faulted in at start, so a budget the process cannot have must be refused
// there with a message, not end in an out-of-memory kill: a child in a memory cgroup of
// 16 MiB asks for all of the trained model's 51 MiB of experts. Needs a cgroup (root).
TEST(streaming, a_budget_beyond_the_memory_the_process_may_have_is_a_clear_error) {
    const auto r = start_in_16_mib(options_for(model_cases()[1].path, "100%"));
    if (!r) {
        GTEST_SKIP() << "no memory cgroup can be made here";
    }
    EXPECT_TRUE(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0) << "the child did not exit cleanly: " << r->status;
    EXPECT_NE(r->out.find("--expert-budget: the expert cache needs"), std::string::npos) << r->out;
    EXPECT_NE(r->out.find("lower the budget"), std::string::npos) << r->out;
}

// --cache-type's staging buffers count too, and are not touched before the check: 2 x (k + 40)
// buffers of the trained model's 0.2 MiB experts are 17.6 MiB, more than the 16 MiB cgroup,
// so a check of the slots alone would come after the staging had got the child killed.
TEST(streaming, staging_for_a_cache_type_is_checked_before_it_is_touched) {
    engine_options o          = options_for(model_cases()[1].path, "100%");
    o.streaming.cache_type    = ggml_type::Q4_0;
    o.streaming.predict_extra = 40;
    const auto r              = start_in_16_mib(o);
    if (!r) {
        GTEST_SKIP() << "no memory cgroup can be made here";
    }
    EXPECT_TRUE(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0) << "the child did not exit cleanly: " << r->status;
    EXPECT_NE(r->out.find("--expert-budget: the expert cache needs"), std::string::npos) << r->out;
}

TEST(streaming, a_file_truncated_under_the_reader_stops_with_a_clear_error) {
    // The engine maps the whole file; the cache reads from a copy cut short in the middle of
    // the expert tensors, as if the file were truncated while running.
    const model_case m    = model_cases()[0];
    const auto       copy = std::filesystem::temp_directory_path() / ("sluice-trunc-" + std::to_string(::getpid()));
    std::filesystem::copy_file(m.path, copy, std::filesystem::copy_options::overwrite_existing);
    engine         e(options_for(m.path));
    const auto &   store = e.net().experts();
    const uint64_t cut   = store.slab_down(1, 0).file_offset + 100;
    std::filesystem::resize_file(copy, cut);

    streaming_options so;
    so.budget    = 1u << 30;
    so.predictor = predictor_kind::NONE;
    e.set_expert_source(
        std::make_unique<streaming_expert_source>(std::vector<std::string>{copy.string()}, store, e.net().routers(),
                                                  static_cast<int>(e.hparams().n_expert_used), e.runner(), so));
    session s(e, session_options{.n_ctx = 64});
    try {
        const std::vector<int32_t> ids = m.ids;
        s.eval(ids);
        FAIL() << "a short read went unnoticed";
    } catch (const error & err) {
        const std::string msg = err.what();
        EXPECT_NE(msg.find(copy.string()), std::string::npos) << msg;
        EXPECT_NE(msg.find("short read"), std::string::npos) << msg;
    }
    std::filesystem::remove(copy);
}

}  // namespace
}  // namespace sluice::test
