// The offline tools against the live cache: a trace replayed by `simulate` must count the
// same hits, misses and predictions as the streaming cache counted running the same tokens
// one at a time (same plan, same policy, same guesses), and calibration must fit a map that
// predicts at least as well as the guess it starts from on the text it was fitted on.
#include "corpus.h"
#include "engine/engine.h"
#include "experts/streaming_source.h"
#include "tools/calibrate.h"
#include "tools/quantize.h"
#include "tools/route_trace.h"
#include "tools/simulate.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace sluice {
namespace {

const std::string & trained = test::trained_model;

engine_options options(const std::string & budget, predictor_kind p, eviction_policy ev) {
    engine_options o;
    o.model_path          = trained;
    o.n_threads           = 2;
    o.expert_budget       = budget;
    o.streaming.predictor = p;
    o.streaming.eviction  = ev;
    o.streaming.quota     = quota_policy::UNIFORM;
    return o;
}

class replay : public ::testing::TestWithParam<std::pair<predictor_kind, eviction_policy>> {};

TEST_P(replay, simulate_counts_what_the_live_cache_counted) {
    const auto [pred, ev] = GetParam();
    engine                     ram(options("", predictor_kind::NONE, ev));
    const std::vector<int32_t> ids = test::python_tokens(ram, 96);
    routing_trace              trace;
    // The live run below uses an F32 KV cache; the trace must see the same routing.
    trace.tokens = record_trace(ram, ids, trace_options{.session = {.n_ctx = 128, .kv_type = ggml_type::F32}});

    // A budget of exactly `slots` experts per layer, in the live cache's slot bytes.
    const expert_store & store = ram.net().experts();
    const int            slots = 12;
    uint64_t             bytes = 0;
    for (uint64_t b : streaming_expert_source::slot_bytes(store)) {
        bytes += b * slots;
    }
    engine  live(options(std::to_string(bytes), pred, ev));
    session s(live, session_options{.n_ctx = 128, .kv_type = ggml_type::F32});  // as the trace ran
    for (int32_t id : ids) {  // one token per pass, as the trace is replayed
        const int32_t one[1] = {id};
        s.eval(one);
    }
    const stream_stats got = *live.streaming_stats();

    // The simulation sized as `sluice simulate -m` sizes it: the live cache's slot and read bytes
    // and the same budget in bytes, so it plans the same slots and counts the same bytes.
    simulate_options so;
    so.slot_bytes           = streaming_expert_source::slot_bytes(store);
    so.budget_bytes         = bytes;
    so.read_bytes           = store.expert_bytes_per_layer();
    so.predictor            = pred;
    so.eviction             = ev;
    so.quota                = quota_policy::UNIFORM;
    const stream_stats want = simulate(trace, so);

    ASSERT_EQ(got.slots, want.slots);
    for (size_t l = 0; l < got.layers.size(); ++l) {
        const layer_stream_stats &g = got.layers[l], &w = want.layers[l];
        EXPECT_EQ(g.requests, w.requests) << "layer " << l;
        EXPECT_EQ(g.hits + g.late, w.hits) << "layer " << l;  // the simulation's reads are never late
        EXPECT_EQ(g.misses, w.misses) << "layer " << l;
        EXPECT_EQ(g.predicted, w.predicted) << "layer " << l;
        EXPECT_EQ(g.predicted_used, w.predicted_used) << "layer " << l;
        EXPECT_EQ(g.reads, w.reads) << "layer " << l;
        EXPECT_EQ(g.bytes_read, w.bytes_read) << "layer " << l;
    }
}

INSTANTIATE_TEST_SUITE_P(policies, replay,
                         ::testing::Values(std::pair{predictor_kind::NONE, eviction_policy::LRU},
                                           std::pair{predictor_kind::NONE, eviction_policy::LFU},
                                           std::pair{predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE},
                                           std::pair{predictor_kind::CROSS_LAYER, eviction_policy::LRU},
                                           std::pair{predictor_kind::HISTORY, eviction_policy::PREDICTIVE},
                                           std::pair{predictor_kind::NONE, eviction_policy::MARKOV},
                                           std::pair{predictor_kind::CROSS_LAYER, eviction_policy::MARKOV}),
                         [](const auto & info) {
                             std::string p(name_of(info.param.first));
                             std::replace(p.begin(), p.end(), '-', '_');
                             return p + "_" + std::string(name_of(info.param.second));
                         });

TEST(calibrate, pregate_is_kept_only_where_it_beats_the_cross_layer_guess) {
    engine                     e   = test::trained_engine();
    const std::vector<int32_t> ids = test::python_tokens(e, 400);
    calibrate_report           report;
    const calibration          cal = calibrate(e, ids, calibrate_options{}, report);
    ASSERT_EQ(report.layers.size(), static_cast<size_t>(e.hparams().n_layer - 1));
    double counted = 0;
    for (const auto & row : cal.counts) {
        for (double c : row) {
            counted += c;
        }
    }
    EXPECT_EQ(counted, static_cast<double>(ids.size() * e.hparams().n_layer * e.hparams().n_expert_used));
    // The held-out recall of the cross-layer guess (k + 2 = 6 guesses) is what the model's
    // trainer measured on other held-out text (golden/trained-routing-stats.json, variant
    // B: layer L's stream normalised for layer L+1's router): 80 held-out tokens here, so
    // within 0.1 (measured: 0.05 at most); a broken guess falls towards chance (0.19).
    std::ifstream        gin(std::string(SLUICE_TEST_DATA) + "/golden/trained-routing-stats.json");
    const nlohmann::json golden = nlohmann::json::parse(gin)["cross_layer_recall"]["variantB_recall_at_top6_per_layer"];
    for (const calibrate_layer_report & r : report.layers) {
        EXPECT_EQ(r.used, !cal.pregate[r.layer].empty());
        EXPECT_EQ(r.used, r.pregate_recall >= r.cross_layer_recall);
        EXPECT_NEAR(r.cross_layer_recall, golden[r.layer - 1].get<double>(), 0.1) << r.layer;
    }
    // A round trip through the file keeps everything.
    const auto path = std::filesystem::temp_directory_path() / ("sluice-cal-" + std::to_string(::getpid()));
    cal.save(path.string());
    const calibration back = calibration::load(path.string(), static_cast<int>(e.hparams().n_layer),
                                               static_cast<int>(e.hparams().n_expert), e.hparams().n_embd);
    EXPECT_EQ(back.counts, cal.counts);
    EXPECT_EQ(back.pregate, cal.pregate);
    EXPECT_THROW(calibration::load(path.string(), 3, 8, 64), error);
    std::filesystem::remove(path);
}

TEST(simulate, the_oracle_is_an_upper_bound) {
    engine        e = test::trained_engine();
    routing_trace trace;
    trace.tokens = record_trace(e, test::python_tokens(e, 128), trace_options{});
    simulate_options so;
    so.budget_share = 0.25;
    double best     = 0;
    for (predictor_kind p : {predictor_kind::NONE, predictor_kind::HISTORY, predictor_kind::CROSS_LAYER}) {
        so.predictor = p;
        best         = std::max(best, simulate(trace, so).total().hit_rate());
    }
    so.predictor                    = predictor_kind::ORACLE;
    const layer_stream_stats oracle = simulate(trace, so).total();
    EXPECT_GE(oracle.hit_rate(), best);
    EXPECT_DOUBLE_EQ(oracle.recall(), 1.0);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// The predictors that need a calibration or a trace, with pinning and the popularity quota:
// the logits stay those of the in-RAM run.
TEST(calibrated_streaming, logits_are_bit_identical_under_frequency_pregate_and_oracle) {
    engine_options o;
    o.model_path = trained;
    o.n_threads  = 2;
    engine                     ram(o);
    const std::vector<int32_t> ids = test::python_tokens(ram, 200);
    const std::vector<int32_t> run(ids.end() - 40, ids.end());

    const auto       dir   = std::filesystem::temp_directory_path();
    const auto       cal   = dir / ("sluice-cal2-" + std::to_string(::getpid()));
    const auto       trace = dir / ("sluice-trace-" + std::to_string(::getpid()));
    calibrate_report report;
    calibrate(ram, std::span(ids).first(160), calibrate_options{}, report).save(cal.string());
    {
        std::ofstream out(trace);
        // The oracle replays this routing in F32 sessions below.
        for (const trace_token & t : record_trace(ram, run, trace_options{.session = {.kv_type = ggml_type::F32}})) {
            out << to_json_line(t) << '\n';
        }
    }
    const auto logits = [&](engine & e) {
        session s(e, session_options{.n_ctx = 64, .kv_type = ggml_type::F32, .n_batch = 7});
        return s.eval_all(run);
    };
    const std::vector<float> want = logits(ram);

    struct variant {
        predictor_kind p;
        quota_policy   q;
        int            pin;
    };
    for (const variant v : {variant{predictor_kind::FREQUENCY, quota_policy::POPULARITY, 2},
                            variant{predictor_kind::PREGATE, quota_policy::SHALLOW, 0},
                            variant{predictor_kind::ORACLE, quota_policy::UNIFORM, 1}}) {
        engine_options so             = o;
        so.expert_budget              = "35%";
        so.streaming.predictor        = v.p;
        so.streaming.quota            = v.q;
        so.streaming.pin_hot          = v.pin;
        so.streaming.calibration_path = cal.string();
        so.streaming.trace_path       = trace.string();
        engine                   e(so);
        const std::vector<float> got = logits(e);
        ASSERT_EQ(got, want) << name_of(v.p);
        const layer_stream_stats t = e.streaming_stats()->total();
        EXPECT_GT(t.predicted, 0u) << name_of(v.p);
        if (v.p == predictor_kind::ORACLE) {
            // It replays the truth: one token at a time it names every expert (in batches
            // of 7 the union of guesses can exceed a layer's slots and is cut).
            engine  one(so);
            session s(one, session_options{.n_ctx = 64, .kv_type = ggml_type::F32, .n_batch = 1});
            s.eval(run);
            EXPECT_DOUBLE_EQ(one.streaming_stats()->total().recall(), 1.0);
        }
    }
    std::filesystem::remove(cal);
    std::filesystem::remove(trace);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// --cache-type re-quantizes experts as they enter the cache. Its results must be exactly
// those of the in-RAM run of a file whose expert tensors were re-quantized the same way
// (sluice quantize's row conversion), and more experts must fit in the same budget.
TEST(requantizing_cache, computes_what_a_requantized_file_computes) {
    const auto  copy = std::filesystem::temp_directory_path() / ("sluice-q40-" + std::to_string(::getpid()) + ".gguf");
    thread_pool pool(2);
    quantize_file(trained, copy.string(), ggml_type::Q4_0, pool, quantize_scope::EXPERTS);

    engine_options o;
    o.model_path = copy.string();
    o.n_threads  = 2;
    engine                     ref(o);
    const std::vector<int32_t> ids = test::python_tokens(ref, 48);
    const auto                 run = [&](engine & e) {
        session s(e, session_options{.n_ctx = 64, .kv_type = ggml_type::F32, .n_batch = 7});
        return s.eval_all(ids);
    };
    const std::vector<float> want = run(ref);

    engine_options so       = options("40%", predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE);
    so.streaming.cache_type = ggml_type::Q4_0;
    engine e(so);
    EXPECT_EQ(run(e), want);
    const stream_stats st = *e.streaming_stats();
    EXPECT_EQ(st.cache_type, "q4_0");
    EXPECT_LE(st.cache_bytes, st.budget);

    engine exact(options("40%", predictor_kind::CROSS_LAYER, eviction_policy::PREDICTIVE));
    int    slots_exact = 0, slots_q4 = 0;
    for (size_t l = 0; l < st.slots.size(); ++l) {
        slots_q4 += st.slots[l];
        slots_exact += exact.streaming_stats()->slots[l];
    }
    EXPECT_GT(slots_q4, slots_exact) << "a smaller type must hold more experts in the same budget";
    std::filesystem::remove(copy);
}

}  // namespace
}  // namespace sluice
