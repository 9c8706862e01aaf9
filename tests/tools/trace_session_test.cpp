// `sluice trace` and `sluice calibrate` run their text in the session `run` makes (issue 16
// item 12): the routing a trace records is the routing a session with the same options
// computes (the recorder `sluice logits --json` prints), for the default F16 KV cache as for
// F32, and the two cache types do route some tokens differently, so the option matters.
#include "corpus.h"
#include "engine/engine.h"
#include "engine/routing_recorder.h"
#include "tools/calibrate.h"
#include "tools/route_trace.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

// Expert sets per token and layer that differ between a trace and a recorded session.
int differing_sets(const std::vector<trace_token> & trace, const routing_recorder & rec) {
    int differ = 0;
    for (const trace_token & t : trace) {
        for (const trace_layer & l : t.layers) {
            const std::vector<int32_t> & want = rec.experts.at(static_cast<size_t>(t.pos)).at(l.layer);
            differ += l.experts == want ? 0 : 1;
        }
    }
    return differ;
}

routing_recorder session_routing(engine & e, const session_options & so, std::span<const int32_t> ids) {
    routing_recorder rec(static_cast<int>(e.hparams().n_layer));
    session          s(e, so);
    s.eval_all(ids, &rec);
    return rec;
}

TEST(trace_session, trace_routes_as_a_session_with_the_same_options) {
    engine                     e   = test::trained_engine();
    const std::vector<int32_t> ids = test::python_tokens(e, 160);
    ASSERT_EQ(ids.size(), 160u);

    const std::vector<trace_token> def = record_trace(e, ids, trace_options{});
    const routing_recorder         run = session_routing(e, session_options{}, ids);  // what `run` uses
    EXPECT_EQ(differing_sets(def, run), 0) << "a default trace must route as a default session (F16 KV)";

    trace_options f32;
    f32.session.kv_type                  = ggml_type::F32;
    f32.session.n_batch                  = 32;
    const std::vector<trace_token> t32   = record_trace(e, ids, f32);
    const routing_recorder         run32 = session_routing(e, f32.session, ids);
    EXPECT_EQ(differing_sets(t32, run32), 0) << "--kv-type f32 -b 32";

    // The cache type changes some routing decisions, so ignoring it is visible.
    EXPECT_GT(differing_sets(def, run32), 0) << "F16 and F32 KV caches route every token alike here";
}

TEST(trace_session, calibration_counts_the_routing_of_the_session) {
    engine                           e   = test::trained_engine();
    const std::vector<int32_t>       ids = test::python_tokens(e, 160);
    const routing_recorder           run = session_routing(e, session_options{}, ids);
    std::vector<std::vector<double>> want(static_cast<size_t>(e.hparams().n_layer),
                                          std::vector<double>(static_cast<size_t>(e.hparams().n_expert), 0.0));
    for (const auto & pos : run.experts) {
        for (size_t l = 0; l < pos.size(); ++l) {
            for (int32_t x : pos[l]) {
                want[l][static_cast<size_t>(x)] += 1.0;
            }
        }
    }
    calibrate_report  report;
    const calibration cal = calibrate(e, ids, calibrate_options{}, report);
    EXPECT_EQ(cal.counts, want);
}

}  // namespace
}  // namespace sluice
