// The trained model against `golden/trained-routing-stats.json` (issue 16 item 19), the
// statistics its trainer measured in float32 torch on held-out text: the next-token loss per
// domain and the recall of the cross-layer guess (layer L+1's router on layer L's stream,
// normalised with layer L+1's norm: the file's "variant B", which is what sluice's
// cross-layer predictor computes) at 4 and 6 guesses. sluice measures the same quantities on
// the held-out sample of each domain (tests/data/corpus: other text of the same sources, so
// the tolerances are sampling tolerances, stated below). A wrong layer, norm, RoPE or router
// moves the loss by far more; a broken predictor falls towards chance (0.125 / 0.1875).
#include "engine/engine.h"
#include "tools/route_trace.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace sluice {
namespace {

// The F16 file the statistics were computed on when the shared fixtures are there, else the
// bundled Q8_0 copy of it (its rounding moves the loss by well under the tolerance).
std::string model_path() {
    const std::string f16 = std::string(SLUICE_FIXTURES) + "/models/trained-qwen3moe-f16.gguf";
    return std::filesystem::exists(f16) ? f16 : std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf";
}

nlohmann::json golden() {
    std::ifstream in(std::string(SLUICE_TEST_DATA) + "/golden/trained-routing-stats.json");
    return nlohmann::json::parse(in);
}

// As in training: BOS, then the ids of each 4096-character chunk.
std::vector<int32_t> domain_tokens(const engine & e, const std::string & domain) {
    std::ifstream        in(std::string(SLUICE_TEST_DATA) + "/corpus/" + domain + ".txt");
    const std::string    text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int32_t> ids = {e.require_tokenizer().bos()};
    for (size_t at = 0; at < text.size(); at += 4096) {
        const std::vector<int32_t> part = e.require_tokenizer().encode(text.substr(at, 4096), false, false);
        ids.insert(ids.end(), part.begin(), part.end());
    }
    return ids;
}

constexpr int64_t window  = 256;  // the training context, as in the golden
constexpr int     windows = 3;    // per domain (the golden used 8 of other held-out text)

// Mean next-token cross-entropy (nats) over `windows` windows, each from an empty cache.
double held_out_loss(engine & e, const std::vector<int32_t> & ids) {
    const int64_t V     = e.hparams().n_vocab;
    double        total = 0.0;
    int64_t       n     = 0;
    for (int w = 0; w < windows; ++w) {
        const std::span<const int32_t> win(ids.data() + w * window, static_cast<size_t>(window));
        session                        s(e, session_options{.n_ctx = window});
        const std::vector<float>       logits = s.eval_all(win);
        for (int64_t p = 0; p + 1 < window; ++p) {
            const float * l  = logits.data() + p * V;
            double        mx = l[0];
            for (int64_t v = 1; v < V; ++v) {
                mx = std::max<double>(mx, l[v]);
            }
            double z = 0.0;
            for (int64_t v = 0; v < V; ++v) {
                z += std::exp(l[v] - mx);
            }
            total += mx + std::log(z) - l[win[p + 1]];
            ++n;
        }
    }
    return total / static_cast<double>(n);
}

TEST(routing_stats, held_out_loss_and_cross_layer_recall_match_the_golden) {
    const nlohmann::json g = golden();
    engine_options       o;
    o.model_path = model_path();
    o.n_threads  = 2;
    engine    e(o);
    const int L = static_cast<int>(e.hparams().n_layer);
    ASSERT_EQ(L, g["n_layer"].get<int>());

    std::vector<double> hit4(static_cast<size_t>(L), 0.0), hit6(static_cast<size_t>(L), 0.0);
    int64_t             tokens = 0;
    double              sum    = 0.0;
    for (const auto & [domain, want] : g["domains"].items()) {
        const std::vector<int32_t> ids = domain_tokens(e, domain);
        ASSERT_GE(ids.size(), static_cast<size_t>(windows * window)) << domain;
        const double loss = held_out_loss(e, ids);
        sum += loss;
        std::printf("%-17s loss %.3f (golden %.3f)\n", domain.c_str(), loss, want["val_loss_nats"].get<double>());
        // Per domain: the spread between samples of held-out text of one source (measured
        // here: 0.03 to 0.55 nats, c_headers the most); a model computed wrongly is off by
        // whole nats. The mean over the five domains is the tighter check, below.
        EXPECT_NEAR(loss, want["val_loss_nats"].get<double>(), 0.75) << domain;

        // Cross-layer guesses, best first, for every MoE layer after the first.
        trace_options to;
        to.guess_count = 6;
        const std::span<const int32_t> run(ids.data(), static_cast<size_t>(windows * window));
        for (int w = 0; w < windows; ++w) {
            const std::vector<trace_token> trace =
                record_trace(e, run.subspan(static_cast<size_t>(w * window), window), to);
            for (const trace_token & t : trace) {
                for (const trace_layer & tl : t.layers) {
                    const auto it = tl.guess.find("cross-layer");
                    if (tl.layer == 0 || it == tl.guess.end()) {
                        continue;
                    }
                    for (int32_t x : tl.experts) {
                        const auto at = std::find(it->second.begin(), it->second.end(), x) - it->second.begin();
                        hit4[tl.layer - 1] += at < 4 ? 1.0 : 0.0;
                        hit6[tl.layer - 1] += at < 6 ? 1.0 : 0.0;
                    }
                }
            }
            tokens += window;
        }
    }
    const double mean = sum / static_cast<double>(g["domains"].size());
    std::printf("mean loss %.3f (golden %.3f)\n", mean, g["val_loss_nats_mean"].get<double>());
    EXPECT_NEAR(mean, g["val_loss_nats_mean"].get<double>(), 0.15);  // measured: 0.08

    const nlohmann::json & cl = g["cross_layer_recall"];
    const auto             k  = static_cast<double>(e.hparams().n_expert_used);
    for (int l = 0; l + 1 < L; ++l) {
        const double r4 = hit4[l] / (static_cast<double>(tokens) * k);
        const double r6 = hit6[l] / (static_cast<double>(tokens) * k);
        const double w4 = cl["variantB_recall_at_top4_per_layer"][l].get<double>();
        const double w6 = cl["variantB_recall_at_top6_per_layer"][l].get<double>();
        std::printf("layer %d -> %d: recall@4 %.3f (golden %.3f), @6 %.3f (golden %.3f)\n", l, l + 1, r4, w4, r6, w6);
        // Recall averages 15k expert choices per layer: measured within 0.01 of the golden
        // on every layer; 0.03 is several standard errors, and a broken predictor falls to
        // the frequency baseline (about 0.22) or chance (0.125).
        EXPECT_NEAR(r4, w4, 0.03) << "layer " << l;
        EXPECT_NEAR(r6, w6, 0.03) << "layer " << l;
    }
}

}  // namespace
}  // namespace sluice
