// The architectures beyond qwen3moe (llama/Mixtral, olmoe, qwen2moe, gpt-oss) against
// llama.cpp's logits (tests/data/archs, from shared/fixtures/archs), with the detected and the
// scalar kernels; decoding token by token equals one batch; a file missing a required tensor
// or key is an error naming it.
//
// Tolerance. The README suggests 1e-3 for an F32 implementation, but its reference ran
// llama.cpp's CPU flash attention, which rounds q, k and v to F16 and accumulates the
// weighted values in F16 (hence its remark that F16 and F32 caches gave identical logits).
// Emulating exactly that in sluice's attention brought positions 1-4 of bos_plus_11 from
// ~4e-3 to ~1e-5 for llama, and position 0 (attention = v0) agrees to 4e-5 with an F16 cache,
// so the model itself matches; what remains is F16 attention arithmetic (2^-11 relative)
// amplified by the output matrix: up to 1.5e-2 measured over all four architectures with
// sluice's F32 attention. We compare at 2.5e-2 and keep sluice's more exact attention.
// Routing near-ties: where our router's margin between its last chosen and the next expert is
// below 0.005 (log-probability), that noise can legitimately swap an expert (gpt-oss
// bos_plus_40, position 17, layer 1: margin 0.002, logits off by 2.7); when the first position
// beyond tolerance is such a tie, the positions from it on are not compared.
#include "gguf/gguf.h"
#include "golden.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

namespace sluice::test {
namespace {

struct arch_spec {
    const char * arch;
    const char * tensor;  // a required tensor the error test removes
    const char * key;     // a required key the error test removes
};

void PrintTo(const arch_spec & s, std::ostream * os) {
    *os << s.arch;
}

std::string model_of(const arch_spec & s) {
    return data_path(fmt::format("archs/tiny-{}-f32.gguf", s.arch));
}
std::string golden_of(const arch_spec & s) {
    return data_path(fmt::format("archs/tiny-{}-f32.json", s.arch));
}

engine open_engine(const std::string & path, std::optional<isa> force = std::nullopt) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = 2;
    o.force_isa  = force;
    return engine(o);
}

session_options f32_context(int64_t n, int64_t batch = 256) {
    session_options o;
    o.n_ctx   = n;
    o.kv_type = ggml_type::F32;
    o.n_batch = batch;
    return o;
}

class arch_test : public ::testing::TestWithParam<arch_spec> {};

constexpr double k_tolerance   = 2.5e-2;
constexpr double k_tie_margin  = 0.005;  // log-probability gap between the last chosen and the next expert
constexpr double k_argmax_from = 0.05;   // argmax compared where the reference's top-2 gap exceeds this

// The smallest router margin per position over all layers: log p(k-th) - log p(k+1-th).
struct margin_recorder final : forward_observer {
    std::vector<double> margin;
    void                on_routing(int, int64_t position, std::span<const int32_t> ids, std::span<const float>,
                                   std::span<const float> probs) override {
        std::vector<float> p(probs.begin(), probs.end());
        std::sort(p.rbegin(), p.rend());
        const size_t k = ids.size();
        const double m = k < p.size() ? std::log(p[k - 1]) - std::log(std::max(p[k], 1e-30f)) : 1e9;
        if (margin.size() <= static_cast<size_t>(position)) {
                           margin.resize(position + 1, 1e9);
        }
        margin[position] = std::min(margin[position], m);
    }
};

void check_logits(const arch_spec & spec, std::optional<isa> force) {
    engine               e = open_engine(model_of(spec), force);
    const nlohmann::json g = read_json(golden_of(spec));
    const int64_t        V = e.hparams().n_vocab;
    ASSERT_EQ(e.hparams().arch, spec.arch);
    for (const auto & c : g["cases"]) {
        const auto               ids = c["ids"].get<std::vector<int32_t>>();
        session                  s(e, f32_context(static_cast<int64_t>(ids.size())));
        margin_recorder          rec;
        const std::vector<float> l = s.eval_all(ids, &rec);
        // Every position is compared until one exceeds the tolerance at a router near-tie:
        // from there on an expert may legitimately differ (see above).
        double worst     = 0.0;
        size_t worst_pos = 0, n_cmp = ids.size();
        for (size_t p = 0; p < ids.size(); ++p) {
            const auto gl = c["logits"][p].get<std::vector<float>>();
            ASSERT_EQ(static_cast<int64_t>(gl.size()), V);
            const float * ours = l.data() + p * V;
            double        err  = 0.0;
            for (int64_t v = 0; v < V; ++v) {
                err = std::max(err, std::abs(static_cast<double>(ours[v]) - gl[v]));
            }
            if (err > k_tolerance && rec.margin[p] < k_tie_margin) {
                n_cmp = p;
                break;
            }
            if (err > worst) {
                worst     = err;
                worst_pos = p;
            }
            std::vector<float> top(gl);
            std::partial_sort(top.begin(), top.begin() + 2, top.end(), std::greater<>());
            if (top[0] - top[1] > k_argmax_from) {
                EXPECT_EQ(std::max_element(ours, ours + V) - ours, std::max_element(gl.begin(), gl.end()) - gl.begin())
                    << c["name"] << " position " << p;
            }
        }
        std::printf("  %s/%s: max |logit - llama.cpp| = %.3g at position %zu; %zu of %zu positions compared\n",
                    spec.arch, c["name"].get<std::string>().c_str(), worst, worst_pos, n_cmp, ids.size());
        EXPECT_LE(worst, k_tolerance) << c["name"] << " worst at position " << worst_pos;
    }
}

TEST_P(arch_test, logits_match_llama_cpp_at_every_position) {
    check_logits(GetParam(), std::nullopt);
}

TEST_P(arch_test, scalar_kernels_match_llama_cpp) {
    check_logits(GetParam(), isa::SCALAR);
}

TEST_P(arch_test, token_by_token_equals_one_batch) {
    engine                     e   = open_engine(model_of(GetParam()));
    const nlohmann::json       g   = read_json(golden_of(GetParam()));
    const std::vector<int32_t> ids = g["cases"][1]["ids"].get<std::vector<int32_t>>();  // longer than gpt-oss's window
    const int64_t              V   = e.hparams().n_vocab;

    session                  batch(e, f32_context(64));
    const std::vector<float> all = batch.eval_all(ids);
    session                  one(e, f32_context(64, 1));
    for (size_t p = 0; p < ids.size(); ++p) {
        const int32_t                tok[1] = {ids[p]};
        const std::span<const float> l      = one.eval(tok);
        for (int64_t v = 0; v < V; ++v) {
            ASSERT_EQ(l[v], all[p * V + v]) << "position " << p << " token " << v;
        }
    }
    session                      chunked(e, f32_context(64, 7));
    const std::span<const float> last = chunked.eval(ids);
    for (int64_t v = 0; v < V; ++v) {
        ASSERT_EQ(last[v], all[(ids.size() - 1) * V + v]);
    }
}

TEST_P(arch_test, every_block_describes_its_gate) {
    // Predictors apply these to the residual stream; gpt-oss's router has a bias.
    engine                        e       = open_engine(model_of(GetParam()));
    const std::span<const router> routers = e.net().routers();
    ASSERT_EQ(static_cast<int64_t>(routers.size()), e.hparams().n_layer);
    for (const router & g : routers) {
        EXPECT_TRUE(g.routed());
        EXPECT_NE(g.norm, nullptr);
        EXPECT_EQ(g.weight.rows, e.hparams().n_expert);
        EXPECT_EQ(g.n_expert, e.hparams().n_expert);
        EXPECT_EQ(g.k, e.hparams().n_expert_used);
        EXPECT_EQ(g.logit_bias != nullptr, std::string_view(GetParam().arch) == "gpt-oss");
        EXPECT_EQ(g.scoring == router_scoring::SOFTMAX_OF_TOP_K, std::string_view(GetParam().arch) == "gpt-oss");
        EXPECT_EQ(g.eps, e.hparams().rms_eps);
    }
}

// A copy of the fixture without one key or tensor; returns the error loading it gives.
std::string load_error_without(const arch_spec & spec, std::string_view key, std::string_view tensor) {
    const gguf_file in = gguf_file::open(model_of(spec));
    gguf_writer     w;
    for (const gguf_kv & kv : in.metadata()) {
        if (kv.key != key) {
            w.set_value(std::string(kv.key), kv.value);
        }
    }
    for (const gguf_tensor & t : in.tensors()) {
        if (t.name != tensor) {
            w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
        }
    }
    const std::string path =
        (std::filesystem::temp_directory_path() / fmt::format("sluice-{}-missing.gguf", spec.arch)).string();
    w.write(path);
    std::string msg = "(no error)";
    try {
        engine e = open_engine(path);
    } catch (const error & err) {
        msg = err.what();
    }
    std::filesystem::remove(path);
    return msg;
}

TEST_P(arch_test, missing_tensor_is_named) {
    const std::string msg = load_error_without(GetParam(), "", GetParam().tensor);
    EXPECT_NE(msg.find(GetParam().tensor), std::string::npos) << msg;
    EXPECT_NE(msg.find("-missing.gguf"), std::string::npos) << msg;
}

TEST_P(arch_test, missing_key_is_named) {
    const std::string msg = load_error_without(GetParam(), GetParam().key, "");
    EXPECT_NE(msg.find(GetParam().key), std::string::npos) << msg;
    EXPECT_NE(msg.find("-missing.gguf"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    archs, arch_test,
    ::testing::Values(arch_spec{"llama", "blk.1.ffn_gate_exps.weight", "llama.feed_forward_length"},
                      arch_spec{"olmoe", "blk.0.attn_q_norm.weight", "olmoe.feed_forward_length"},
                      arch_spec{"qwen2moe", "blk.2.ffn_gate_inp_shexp.weight",
                                "qwen2moe.expert_shared_feed_forward_length"},
                      arch_spec{"gpt-oss", "blk.1.attn_sinks.weight", "gpt-oss.attention.sliding_window"}),
    [](const auto & info) {
        std::string n = info.param.arch;
        std::replace(n.begin(), n.end(), '-', '_');
        return n;
    });

}  // namespace
}  // namespace sluice::test
