// profile finds a planted expert. The test writes a tiny qwen3moe model whose residual stream
// has two reserved dimensions no block writes to (their rows of every attention output and
// expert down matrix are zero): dimension M is non-zero only in the embedding of one token T,
// dimension C is the same constant in every embedding. Layer 1's router row for expert P is
// +K on M and -K/2 on C, so P's logit is hugely positive for T and hugely negative for every
// other token: P is chosen exactly for the T tokens, with weight ~1. Text A has T at every
// fourth position, text B never. Expected, independently of profile's code: count_a(1, P) =
// the T count, count_b(1, P) = 0, and (1, P) first in the ranking.
#include "tools/profile.h"

#include "gguf/gguf.h"
#include "tools/synth.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace sluice {
namespace {

constexpr int     kT = 7, kPlanted = 5, kLayer = 1;  // token T, expert P, the planted layer
constexpr int64_t kM = 0, kC = 1;                    // the reserved dimensions

// The F32 tensor `name` of the image, as floats to edit in place.
float * f32_tensor(std::vector<uint8_t> & bytes, const gguf_file & f, const std::string & name) {
    const gguf_tensor & t = f.require_tensor(name);
    EXPECT_EQ(t.type, ggml_type::F32) << name;
    return reinterpret_cast<float *>(bytes.data() + f.data_offset() + t.offset);
}

std::string planted_model() {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("sluice-profile-" + std::to_string(::getpid()) + ".gguf")).string();
    const synth_geometry g{.name          = "tiny-planted",
                           .arch          = "qwen3moe",
                           .n_layer       = 2,
                           .n_embd        = 64,
                           .n_head        = 2,
                           .n_head_kv     = 1,
                           .head_dim      = 32,
                           .n_expert      = 8,
                           .n_expert_used = 2,
                           .n_ff_expert   = 32,
                           .n_vocab       = 96,
                           .n_ctx         = 128,
                           .rope_base     = 1e4};
    thread_pool          pool(2);
    synth_options        opt;
    opt.type = ggml_type::F32;
    write_synthetic_model(g, opt, path, pool);

    std::vector<uint8_t> bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const gguf_file f = gguf_file::parse(std::span<const uint8_t>(bytes), path);
    const int64_t   d = g.n_embd;

    float * embd = f32_tensor(bytes, f, "token_embd.weight");  // [vocab][d]
    double  sq   = 0;
    for (int64_t i = 0; i < d; ++i) {
        sq += static_cast<double>(embd[kT * d + i]) * embd[kT * d + i];
    }
    const auto scale = static_cast<float>(std::sqrt(sq / static_cast<double>(d)));  // one typical entry
    for (int64_t v = 0; v < g.n_vocab; ++v) {
        embd[v * d + kM] = v == kT ? 2 * scale : 0.0f;
        embd[v * d + kC] = scale;
    }
    for (int l = 0; l < g.n_layer; ++l) {
        const std::string blk  = "blk." + std::to_string(l) + ".";
        const int64_t     q    = g.n_head * g.head_dim;
        float *           wo   = f32_tensor(bytes, f, blk + "attn_output.weight");    // [d][q]
        float *           down = f32_tensor(bytes, f, blk + "ffn_down_exps.weight");  // [E][d][ff]
        for (int64_t r : {kM, kC}) {
            std::memset(wo + r * q, 0, sizeof(float) * static_cast<size_t>(q));
            for (int64_t e = 0; e < g.n_expert; ++e) {
                std::memset(down + (e * d + r) * g.n_ff_expert, 0, sizeof(float) * static_cast<size_t>(g.n_ff_expert));
            }
        }
    }
    float * router = f32_tensor(bytes, f, "blk." + std::to_string(kLayer) + ".ffn_gate_inp.weight");  // [E][d]
    std::memset(router + kPlanted * d, 0, sizeof(float) * static_cast<size_t>(d));
    router[kPlanted * d + kM] = 1000.0f;
    router[kPlanted * d + kC] = -500.0f;

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
}

// `n` random ids of [2, 96) other than T; T at every fourth position when `with_t`.
std::vector<int32_t> text(int n, bool with_t, uint32_t seed) {
    std::mt19937                       rng(seed);
    std::uniform_int_distribution<int> id(2, 95);
    std::vector<int32_t>               out;
    for (int i = 0; i < n; ++i) {
        int t = id(rng);
        while (t == kT) {
            t = id(rng);
        }
        out.push_back(with_t && i % 4 == 3 ? kT : t);
    }
    return out;
}

TEST(profile, ranks_a_planted_expert_first) {
    const std::string path = planted_model();
    {
        engine_options eo;
        eo.model_path = path;
        eo.n_threads  = 2;
        engine        e(eo);
        const auto    a = text(300, true, 1), b = text(260, false, 2);
        count_options opt;
        opt.n_ctx               = 64;  // 4 full chunks and a partial one
        const routing_counts ca = count_routing(e, a, opt), cb = count_routing(e, b, opt);
        const int64_t        n_t = std::count(a.begin(), a.end(), kT);
        ASSERT_EQ(n_t, 75);
        EXPECT_EQ(ca.tokens, 300);
        EXPECT_EQ(cb.tokens, 260);
        EXPECT_EQ(ca.chosen[kLayer][kPlanted], static_cast<uint64_t>(n_t));
        EXPECT_EQ(cb.chosen[kLayer][kPlanted], 0u);

        const routing_profile p = compare_routing(ca, cb, 0.5);
        ASSERT_EQ(p.experts.size(), 16u);  // 2 MoE layers x 8 experts
        const expert_stats & top = p.experts[p.ranking.front()];
        EXPECT_EQ(top.layer, kLayer);
        EXPECT_EQ(top.expert, kPlanted);
        EXPECT_GT(top.mean_weight_a, 0.99);  // the router's choice is not close
        EXPECT_LT(top.p_value, 1e-10);
        // The smoothed log-ratio as the header states it (E = 8, alpha = 0.5).
        EXPECT_NEAR(top.log_ratio, std::log((75 + 0.5) / (300 + 4.0)) - std::log(0.5 / (260 + 4.0)), 1e-9);

        const nlohmann::ordered_json j = profile_json(p, {.model = "m", .file_a = "a", .file_b = "b", .top = 3});
        EXPECT_EQ(j["ranking"][0]["layer"], kLayer);
        EXPECT_EQ(j["ranking"][0]["expert"], kPlanted);
        EXPECT_EQ(j["mask"].get<std::string>().rfind("1:5,", 0), 0u) << j["mask"];
        EXPECT_EQ(j["steer"].size(), 3u);
        EXPECT_EQ(j["steer"][0]["offset"], top.log_ratio);
    }
    std::filesystem::remove(path);
}

// The statistics of a hand-made pair of counts, worked out by hand.
TEST(profile, statistics_and_json_shape) {
    routing_counts a, b;
    a.tokens                = 100;
    b.tokens                = 100;
    a.chosen                = {{}, {50, 10}};  // block 0 dense
    b.chosen                = {{}, {10, 50}};
    a.weight_sum            = {{}, {25.0, 1.0}};
    b.weight_sum            = {{}, {2.0, 40.0}};
    a.prob_sum              = {{}, {60.0, 40.0}};
    b.prob_sum              = {{}, {30.0, 70.0}};
    const routing_profile p = compare_routing(a, b, 0.5);
    ASSERT_EQ(p.experts.size(), 2u);
    const expert_stats & e0 = p.experts[0];
    EXPECT_EQ(e0.layer, 1);
    EXPECT_DOUBLE_EQ(e0.share_a, 0.5);
    EXPECT_DOUBLE_EQ(e0.mean_weight_a, 0.5);
    EXPECT_DOUBLE_EQ(e0.mean_weight_b, 0.2);
    EXPECT_DOUBLE_EQ(e0.mean_prob_b, 0.3);
    EXPECT_NEAR(e0.log_ratio, std::log(50.5 / 10.5), 1e-12);
    const double z = 0.4 / std::sqrt(0.3 * 0.7 * 0.02);  // pooled share 60/200
    EXPECT_NEAR(e0.z, z, 1e-9);
    EXPECT_NEAR(e0.p_value, std::erfc(z / std::sqrt(2.0)), 1e-15);
    EXPECT_NEAR(p.experts[1].z, -z, 1e-9);
    EXPECT_EQ(p.ranking, (std::vector<size_t>{0, 1}));
    EXPECT_EQ(profile_mask(p, 2), "1:0,1:1");

    const nlohmann::ordered_json j =
        profile_json(p, {.model = "m.gguf", .file_a = "A.txt", .file_b = "B.txt", .top = 1});
    EXPECT_EQ(j["format"], "sluice.profile.v1");
    EXPECT_EQ(j["test"], "two-proportion z-test");
    EXPECT_EQ(j["alpha"], 0.5);
    EXPECT_EQ(j["a"]["file"], "A.txt");
    EXPECT_EQ(j["b"]["tokens"], 100);
    EXPECT_EQ(j["n_layer"], 2);
    EXPECT_EQ(j["n_expert"], 2);
    ASSERT_EQ(j["layers"].size(), 1u);  // the dense block is skipped
    EXPECT_EQ(j["layers"][0]["layer"], 1);
    for (const char * key : {"expert", "count_a", "count_b", "share_a", "share_b", "mean_weight_a", "mean_weight_b",
                             "log_ratio", "z", "p_value"}) {
        EXPECT_TRUE(j["layers"][0]["experts"][0].contains(key)) << key;
    }
    EXPECT_EQ(j["ranking"].size(), 2u);
    EXPECT_EQ(j["mask"], "1:0");
    EXPECT_EQ(j["steer"], nlohmann::ordered_json::parse(R"([{"layer": 1, "expert": 0, "offset": )" +
                                                        nlohmann::ordered_json(e0.log_ratio).dump() + "}]"));

    routing_counts empty = b;
    empty.tokens         = 0;
    EXPECT_THROW(compare_routing(a, empty, 0.5), error);
    EXPECT_THROW(compare_routing(a, b, 0.0), error);
}

}  // namespace
}  // namespace sluice
