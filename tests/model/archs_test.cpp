// The architectures beyond qwen3moe (llama/Mixtral, olmoe, qwen2moe, gpt-oss) against
// llama.cpp's logits (tests/data/archs, from shared/fixtures/archs), with the detected and the
// scalar kernels; decoding token by token equals one batch; a file missing a required tensor
// or key is an error naming it.
//
// Tolerance: the references were made with flash attention off, so llama.cpp ran plain F32
// arithmetic; the fixture README expects an F32 implementation within about 1e-4 at every
// position, with the same routing (an expert swapped at a router near-tie would move logits
// by O(0.1), far past that). The references are rounded to 6 significant digits, which alone
// is up to ~5e-5 on logits of magnitude ~10. Every position is compared.
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

constexpr double k_tolerance   = 1e-4;
constexpr double k_argmax_from = 2 * k_tolerance;  // argmax compared where the reference's top-2 gap exceeds this

void check_logits(const arch_spec & spec, std::optional<isa> force) {
    engine               e = open_engine(model_of(spec), force);
    const nlohmann::json g = read_json(golden_of(spec));
    const int64_t        V = e.hparams().n_vocab;
    ASSERT_EQ(e.hparams().arch, spec.arch);
    for (const auto & c : g["cases"]) {
        const auto               ids = c["ids"].get<std::vector<int32_t>>();
        session                  s(e, f32_context(static_cast<int64_t>(ids.size())));
        const std::vector<float> l         = s.eval_all(ids);
        double                   worst     = 0.0;
        size_t                   worst_pos = 0;
        for (size_t p = 0; p < ids.size(); ++p) {
            const auto gl = c["logits"][p].get<std::vector<float>>();
            ASSERT_EQ(static_cast<int64_t>(gl.size()), V);
            const float * ours = l.data() + p * V;
            double        err  = 0.0;
            for (int64_t v = 0; v < V; ++v) {
                err = std::max(err, std::abs(static_cast<double>(ours[v]) - gl[v]));
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
        std::printf("  %s/%s: max |logit - llama.cpp| = %.3g at position %zu of %zu\n", spec.arch,
                    c["name"].get<std::string>().c_str(), worst, worst_pos, ids.size());
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
