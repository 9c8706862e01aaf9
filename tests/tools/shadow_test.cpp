// Fate's lower-precision IO (--shadow): the routed experts written again in a smaller type
// by `quantize --expert-shadow`, read by the streaming cache where the shadow policy says.
// Independent expectations: under `all` the run is the in-RAM run of a file whose experts
// were converted the same way (`quantize --experts-only`), bit for bit; a policy with no
// shadow reads to make is the exact run; and under `cold` every demand read is a shadow miss
// or an upgrade, so its counters and bytes follow from each other and the two sizes.
#include "corpus.h"
#include "engine/engine.h"
#include "experts/budget.h"
#include "experts/streaming_source.h"
#include "gguf/gguf.h"
#include "tools/quantize.h"
#include "tools/route_trace.h"
#include "tools/simulate.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sluice {
namespace {

const std::string & trained = test::trained_model;

std::string temp_path(const std::string & name) {
    return (std::filesystem::temp_directory_path() / ("sluice-" + std::to_string(::getpid()) + "-" + name)).string();
}

// The trained model's experts as Q4_0 (from its Q8_0): a shadow, and a whole model for reference.
struct shadow_files {
    std::string shadow = temp_path("shadow-q4_0.gguf"), reference = temp_path("experts-q4_0.gguf");
    shadow_files() {
        thread_pool pool(2);
        quantize_file(trained, shadow, ggml_type::Q4_0, pool, quantize_scope::SHADOW);
        quantize_file(trained, reference, ggml_type::Q4_0, pool, quantize_scope::EXPERTS);
    }
    // The converted file in RAM, on 2 threads.
    engine reference_engine() const {
        engine_options o;
        o.model_path = reference;
        o.n_threads  = 2;
        return engine(o);
    }
    ~shadow_files() {
        std::filesystem::remove(shadow);
        std::filesystem::remove(reference);
    }
};

engine_options streamed(const std::string & budget, predictor_kind p, const std::string & shadow, shadow_policy sp) {
    engine_options o;
    o.model_path            = trained;
    o.n_threads             = 2;
    o.expert_budget         = budget;
    o.streaming.predictor   = p;
    o.streaming.shadow_path = shadow;
    o.streaming.shadow      = sp;
    return o;
}

std::vector<float> run(engine & e, const std::vector<int32_t> & ids, int n_batch) {
    session s(e, session_options{.n_ctx = 64, .kv_type = ggml_type::F32, .n_batch = n_batch});
    return s.eval_all(ids);
}

TEST(expert_shadow, holds_only_the_experts_in_the_type_asked) {
    const shadow_files f;
    const gguf_file    in = gguf_file::open(trained), out = gguf_file::open(f.shadow);
    size_t             experts = 0;
    for (const gguf_tensor & t : in.tensors()) {
        experts += std::string_view(t.name).find("_exps.weight") != std::string_view::npos ? 1 : 0;
    }
    ASSERT_EQ(out.tensors().size(), experts);
    for (const gguf_tensor & t : out.tensors()) {
        EXPECT_NE(std::string_view(t.name).find("_exps.weight"), std::string_view::npos) << t.name;
        EXPECT_EQ(t.type, ggml_type::Q4_0) << t.name;
        EXPECT_EQ(t.n_dims, 3) << t.name;
    }
}

TEST(expert_shadow, all_computes_what_a_file_with_those_experts_computes) {
    const shadow_files         f;
    engine                     ref  = f.reference_engine();
    const std::vector<int32_t> ids  = test::python_tokens(ref, 48);
    const std::vector<float>   want = run(ref, ids, 7);

    engine e(streamed("40%", predictor_kind::CROSS_LAYER, f.shadow, shadow_policy::ALL));
    EXPECT_EQ(run(e, ids, 7), want);
    const stream_stats       st = *e.streaming_stats();
    const layer_stream_stats t  = st.total();
    EXPECT_EQ(t.shadow_reads, t.reads);
    EXPECT_EQ(t.shadow_uses, t.requests);
    EXPECT_EQ(t.upgrades, 0u);
    EXPECT_LE(st.cache_bytes, st.budget);

    // Slots sized for Q4_0 (4.5 bits a weight against Q8_0's 8.5): more fit in the same budget.
    engine exact(streamed("40%", predictor_kind::CROSS_LAYER, "", shadow_policy::NONE));
    int    slots_exact = 0, slots_shadow = 0;
    for (size_t l = 0; l < st.slots.size(); ++l) {
        slots_shadow += st.slots[l];
        slots_exact += exact.streaming_stats()->slots[l];
    }
    EXPECT_GT(slots_shadow, slots_exact);
}

TEST(expert_shadow, speculative_without_guesses_reads_nothing_from_it) {
    const shadow_files         f;
    engine                     ram = test::trained_engine();
    const std::vector<int32_t> ids = test::python_tokens(ram, 40);
    engine                     e(streamed("25%", predictor_kind::NONE, f.shadow, shadow_policy::SPECULATIVE));
    EXPECT_EQ(run(e, ids, 1), run(ram, ids, 1));
    EXPECT_EQ(e.streaming_stats()->total().shadow_reads, 0u);
}

TEST(expert_shadow, cold_reads_misses_from_it_and_second_uses_exact) {
    const shadow_files         f;
    engine                     ram = test::trained_engine();
    const std::vector<int32_t> ids = test::python_tokens(ram, 64);
    engine                     exact(streamed("25%", predictor_kind::NONE, "", shadow_policy::NONE));
    engine                     cold(streamed("25%", predictor_kind::NONE, f.shadow, shadow_policy::COLD));
    const std::vector<float>   want = run(exact, ids, 1);
    const std::vector<float>   got  = run(cold, ids, 1);
    EXPECT_NE(got, want) << "a run that served some experts from Q4_0 copies cannot equal the exact one";

    // Without guesses every read is on demand: a miss read from the shadow, or a used shadow
    // copy read again exact. (The lossy copies change the hidden states and so the routing:
    // the misses themselves are not the exact run's.)
    const layer_stream_stats x = exact.streaming_stats()->total(), c = cold.streaming_stats()->total();
    EXPECT_EQ(c.requests, x.requests);
    EXPECT_EQ(c.reads, c.misses);
    EXPECT_EQ(c.misses, c.shadow_reads + c.upgrades);
    EXPECT_GT(c.upgrades, 0u);
    EXPECT_LT(c.upgrades, c.shadow_reads);
    EXPECT_EQ(c.shadow_uses, c.shadow_reads) << "a shadow copy serves one use";

    // Bytes: shadow reads at Q4_0's size, upgrades at Q8_0's.
    const gguf_file      sh         = gguf_file::open(f.shadow);
    const expert_store & store      = ram.net().experts();
    const expert_store   small      = store.in_other_file(sh);
    uint64_t             want_bytes = 0;
    const stream_stats   cs         = *cold.streaming_stats();
    for (int l = 0; l < store.n_layer(); ++l) {
        want_bytes += cs.layers[l].shadow_reads * small.expert_bytes(l) +
                      (cs.layers[l].reads - cs.layers[l].shadow_reads) * store.expert_bytes(l);
    }
    EXPECT_EQ(c.bytes_read, want_bytes);
    EXPECT_LT(c.bytes_read, x.bytes_read);
}

// `sluice simulate --shadow` plans and counts what the live cache does: a trace of the in-RAM
// run of the converted file (the routing `all` computes, bit for bit) replayed with the
// shadow's sizes gives the live run's slots, reads and bytes.
TEST(expert_shadow, simulate_counts_what_the_live_cache_counted_under_all) {
    const shadow_files         f;
    engine                     ref = f.reference_engine();
    const std::vector<int32_t> ids = test::python_tokens(ref, 64);
    routing_trace              trace;
    trace.tokens = record_trace(ref, ids, trace_options{.session = {.n_ctx = 128, .kv_type = ggml_type::F32}});

    engine               ram   = test::trained_engine();
    const expert_store & store = ram.net().experts();
    const gguf_file      sh    = gguf_file::open(f.shadow);
    const expert_store   small = store.in_other_file(sh);
    const uint64_t       bytes = parse_budget("30%", store.total_bytes());
    engine               live(streamed(std::to_string(bytes), predictor_kind::NONE, f.shadow, shadow_policy::ALL));
    session              s(live, session_options{.n_ctx = 128, .kv_type = ggml_type::F32});
    for (int32_t id : ids) {  // one token per pass, as the trace is replayed
        const int32_t one[1] = {id};
        s.eval(one);
    }
    const stream_stats got = *live.streaming_stats();

    simulate_options so;
    so.slot_bytes           = streaming_expert_source::slot_bytes(store, &small, shadow_policy::ALL);
    so.budget_bytes         = bytes;
    so.shadow               = shadow_policy::ALL;
    so.read_bytes           = store.expert_bytes_per_layer();
    so.shadow_read_bytes    = small.expert_bytes_per_layer();
    so.predictor            = predictor_kind::NONE;
    so.eviction             = streaming_options{}.eviction;  // the live run's defaults
    so.quota                = quota_policy::SHALLOW;
    const stream_stats want = simulate(trace, so);

    ASSERT_EQ(got.slots, want.slots);
    for (size_t l = 0; l < got.layers.size(); ++l) {
        const layer_stream_stats &g = got.layers[l], &w = want.layers[l];
        EXPECT_EQ(g.requests, w.requests) << "layer " << l;
        EXPECT_EQ(g.hits, w.hits) << "layer " << l;
        EXPECT_EQ(g.reads, w.reads) << "layer " << l;
        EXPECT_EQ(g.shadow_reads, w.shadow_reads) << "layer " << l;
        EXPECT_EQ(g.bytes_read, w.bytes_read) << "layer " << l;
    }
    EXPECT_GT(got.total().shadow_reads, 0u);
}

TEST(expert_shadow, refuses_another_models_experts_and_a_second_cache_type) {
    const std::string other = temp_path("tiny-shadow.gguf");
    thread_pool       pool(2);
    quantize_file(std::string(SLUICE_TEST_DATA) + "/tiny-qwen3moe-f32.gguf", other, ggml_type::Q8_0, pool,
                  quantize_scope::SHADOW);
    try {
        engine e(streamed("25%", predictor_kind::NONE, other, shadow_policy::COLD));
        ADD_FAILURE() << "a shadow of another model was accepted";
    } catch (const error & err) {
        EXPECT_NE(std::string(err.what()).find("ffn_"), std::string::npos) << err.what();
    }
    std::filesystem::remove(other);

    const shadow_files f;
    engine_options     both   = streamed("25%", predictor_kind::NONE, f.shadow, shadow_policy::COLD);
    both.streaming.cache_type = ggml_type::Q4_0;
    EXPECT_THROW(engine e(both), error);
    engine_options none = streamed("25%", predictor_kind::NONE, "", shadow_policy::ALL);
    EXPECT_THROW(engine e(none), error);
}

}  // namespace
}  // namespace sluice
