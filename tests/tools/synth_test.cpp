// synth writes every architecture from its tensor table, and the architecture's builder (which
// checks every shape against the same table) loads the result and runs it: the table is the
// one description both read. Tiny geometries, so each file is a few hundred KiB.
#include "tools/synth.h"

#include "engine/engine.h"
#include "gguf/gguf.h"
#include "model/tensor_table.h"
#include "tensor/types.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace sluice {
namespace {

synth_geometry tiny(const std::string & arch) {
    synth_geometry g{.name          = "tiny-" + arch,
                     .arch          = arch,
                     .n_layer       = 4,
                     .n_embd        = 64,
                     .n_head        = 2,
                     .n_head_kv     = 1,
                     .head_dim      = 32,
                     .n_expert      = 4,
                     .n_expert_used = 2,
                     .n_ff_expert   = 32,
                     .n_vocab       = 96,
                     .n_ctx         = 64,
                     .rope_base     = 1e4};
    if (arch == "qwen2moe" || arch == "qwen3next") {
        g.n_ff_shared = 64;
    }
    if (arch == "gpt-oss") {
        g.sliding_window = 8;
    }
    if (arch == "deepseek2") {  // MLA with a compressed query, one dense block, two shared experts
        g.n_head_kv       = 2;
        g.head_dim        = 48;
        g.n_expert_shared = 2;
        g.n_layer_dense   = 1;
        g.n_ff_dense      = 96;
        g.q_lora          = 32;
        g.kv_lora         = 32;
        g.qk_nope         = 32;
        g.qk_rope         = 16;
        g.v_head          = 32;
    }
    if (arch == "qwen3next") {  // blocks 0-2 DeltaNet, block 3 full attention
        g.rope_dim                = 16;
        g.full_attention_interval = 4;
        g.ssm_k_heads             = 1;
        g.ssm_v_heads             = 2;
        g.ssm_head_dim            = 32;
        g.ssm_conv_kernel         = 4;
    }
    return g;
}

class synth_arch : public ::testing::TestWithParam<std::string> {};

TEST_P(synth_arch, writes_what_the_builder_loads_and_runs) {
    const synth_geometry g    = tiny(GetParam());
    const std::string    path = (std::filesystem::temp_directory_path() /
                              ("sluice-synth-" + g.arch + "-" + std::to_string(::getpid()) + ".gguf"))
                                 .string();
    thread_pool   pool(2);
    synth_options opt;
    opt.type = ggml_type::F32;
    write_synthetic_model(g, opt, path, pool);

    {
        // Every tensor written is one the table names, and the routed experts are exactly the
        // stacked gate/up/down of each MoE block (F32; gpt-oss's MXFP4, as released).
        const gguf_file f            = gguf_file::open(path);
        const auto      roles        = tensor_roles(f);
        uint64_t        expert_bytes = 0;
        for (size_t i = 0; i < roles.size(); ++i) {
            ASSERT_TRUE(roles[i].has_value()) << f.tensors()[i].name;
            if (*roles[i] == tensor_role::EXPERTS) {
                expert_bytes += f.tensors()[i].nbytes;
            }
        }
        const uint64_t  moe_blocks = static_cast<uint64_t>(g.n_layer - g.n_layer_dense);
        const ggml_type t          = g.arch == "gpt-oss" ? ggml_type::MXFP4 : ggml_type::F32;
        EXPECT_EQ(expert_bytes,
                  moe_blocks * g.n_expert *
                      (2 * g.n_ff_expert * row_bytes(t, g.n_embd) + g.n_embd * row_bytes(t, g.n_ff_expert)));

        engine_options eo;
        eo.model_path = path;
        eo.n_threads  = 2;
        engine                       e(eo);
        session                      s(e, session_options{.n_ctx = 16});
        const int32_t                ids[3] = {1, 5, 9};
        const std::span<const float> logits = s.eval(ids);
        ASSERT_EQ(static_cast<int64_t>(logits.size()), g.n_vocab);
        for (float v : logits) {
            ASSERT_TRUE(std::isfinite(v));
        }
        EXPECT_EQ(e.hparams().n_layer, g.n_layer);
    }
    std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(archs, synth_arch,
                         ::testing::Values("qwen3moe", "llama", "olmoe", "qwen2moe", "gpt-oss", "deepseek2",
                                           "qwen3next"),
                         [](const auto & info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

// --tokenizer-from: the bundled model's 4096-token vocabulary, padded with unused tokens to the
// model's 4100. Text tokenizes as the fixture README gives for that vocabulary.
TEST(synth, takes_a_tokenizer_padded_to_the_vocabulary) {
    synth_geometry g = tiny("qwen3moe");
    g.n_vocab        = 4100;
    const std::string path =
        (std::filesystem::temp_directory_path() / ("sluice-synth-tok-" + std::to_string(::getpid()) + ".gguf"))
            .string();
    thread_pool   pool(2);
    synth_options opt;
    opt.type           = ggml_type::Q8_0;
    opt.tokenizer_from = std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf";
    write_synthetic_model(g, opt, path, pool);
    {
        engine_options eo;
        eo.model_path = path;
        engine            e(eo);
        const tokenizer & tok = e.require_tokenizer();
        EXPECT_EQ(tok.n_vocab(), 4100);
        EXPECT_EQ(tok.encode("def fibonacci(n):\n", true, false),
                  (std::vector<int32_t>{1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13}));
        EXPECT_EQ(tok.piece(4099), "<unused 4099>");
    }
    std::filesystem::remove(path);

    g.n_vocab = 4000;  // fewer rows than the vocabulary has tokens
    EXPECT_THROW(write_synthetic_model(g, opt, path, pool), error);
    EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace sluice
