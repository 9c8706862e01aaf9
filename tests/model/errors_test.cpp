// Bad models and bad requests are errors that name what is wrong, never crashes.
#include "gguf/gguf.h"
#include "golden.h"
#include "util/error.h"
#include "util/memory_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace sluice::test {
namespace {

std::string message_of(const std::function<void()> & f) {
    try {
        f();
    } catch (const error & e) {
        return e.what();
    }
    return "(no error)";
}

// A copy of the tiny model with one change applied to its writer.
std::string rewrite_tiny(const std::string & name, const std::function<void(const gguf_file &, gguf_writer &)> & edit) {
    const gguf_file in = gguf_file::open(data_path("tiny-qwen3moe-f32.gguf"));
    gguf_writer     w;
    edit(in, w);
    const std::string path = (std::filesystem::temp_directory_path() / name).string();
    w.write(path);
    return path;
}

void copy_all(const gguf_file & in, gguf_writer & w, std::string_view skip_key, std::string_view skip_tensor) {
    for (const gguf_kv & kv : in.metadata()) {
        if (kv.key != skip_key) {
            w.set_value(std::string(kv.key), kv.value);
        }
    }
    for (const gguf_tensor & t : in.tensors()) {
        if (t.name != skip_tensor) {
            w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
        }
    }
}

engine_options opts(const std::string & path) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = 1;
    return o;
}

TEST(model_errors, unknown_architecture_lists_the_supported_ones) {
    const std::string path = rewrite_tiny("sluice-arch.gguf", [](const gguf_file & in, gguf_writer & w) {
        w.set_string("general.architecture", "llama9");
        copy_all(in, w, "general.architecture", "");
    });
    const std::string msg  = message_of([&] { engine e(opts(path)); });
    EXPECT_NE(msg.find("'llama9' is not supported"), std::string::npos) << msg;
    EXPECT_NE(msg.find("qwen3moe"), std::string::npos) << msg;
    std::filesystem::remove(path);
}

TEST(model_errors, missing_tensor_is_named) {
    const std::string path = rewrite_tiny("sluice-missing.gguf", [](const gguf_file & in, gguf_writer & w) {
        copy_all(in, w, "", "blk.1.attn_k.weight");
    });
    const std::string msg  = message_of([&] { engine e(opts(path)); });
    EXPECT_NE(msg.find("blk.1.attn_k.weight"), std::string::npos) << msg;
    std::filesystem::remove(path);
}

TEST(model_errors, transposed_matrix_is_named_with_its_shape) {
    const std::string path = rewrite_tiny("sluice-shape.gguf", [](const gguf_file & in, gguf_writer & w) {
        copy_all(in, w, "", "blk.0.attn_k.weight");
        const gguf_tensor & k = in.require_tensor("blk.0.attn_k.weight");  // [256, 128]
        w.add_tensor("blk.0.attn_k.weight", k.type, {k.ne[1], k.ne[0]}, k.data, k.nbytes);
    });
    const std::string msg  = message_of([&] { engine e(opts(path)); });
    EXPECT_NE(msg.find("blk.0.attn_k.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected [256, 128]"), std::string::npos) << msg;
    std::filesystem::remove(path);
}

TEST(model_errors, expert_tensor_of_wrong_shape_is_named) {
    const std::string path = rewrite_tiny("sluice-experts.gguf", [](const gguf_file & in, gguf_writer & w) {
        copy_all(in, w, "", "blk.2.ffn_down_exps.weight");
        const gguf_tensor & t = in.require_tensor("blk.2.ffn_down_exps.weight");  // [256, 256, 8]
        w.add_tensor("blk.2.ffn_down_exps.weight", t.type, {t.ne[0], t.ne[1] * t.ne[2]}, t.data, t.nbytes);
    });
    const std::string msg  = message_of([&] { engine e(opts(path)); });
    EXPECT_NE(msg.find("blk.2.ffn_down_exps.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected [256, 256, 8]"), std::string::npos) << msg;
    std::filesystem::remove(path);
}

TEST(model_errors, missing_hyper_parameter_is_named) {
    const std::string path = rewrite_tiny("sluice-hparam.gguf", [](const gguf_file & in, gguf_writer & w) {
        copy_all(in, w, "qwen3moe.expert_used_count", "");
    });
    const std::string msg  = message_of([&] { engine e(opts(path)); });
    EXPECT_NE(msg.find("qwen3moe.expert_used_count"), std::string::npos) << msg;
    std::filesystem::remove(path);
}

TEST(model_errors, bad_tokens_and_full_context_are_errors) {
    engine          e(opts(data_path("tiny-qwen3moe-f32.gguf")));
    session_options so;
    so.n_ctx = 4;
    session       s(e, so);
    const int32_t bad[1] = {4096};
    EXPECT_NE(message_of([&] { s.eval(bad); }).find("out of range"), std::string::npos);
    const int32_t five[5] = {1, 2, 3, 4, 5};
    EXPECT_NE(message_of([&] { s.eval(five); }).find("context full"), std::string::npos);
}

// A file whose context_length is 2^21 (issue 16 item 8): a session that asks for no context
// gets 4096 positions, as llama.cpp's default, and even a context of 2^21 positions costs
// memory only as it fills, not 2^21 positions of keys and values up front.
TEST(model_errors, a_huge_training_context_is_no_default_and_costs_nothing_unused) {
    const std::string path = rewrite_tiny("sluice-ctx.gguf", [](const gguf_file & in, gguf_writer & w) {
        w.set_u32("qwen3moe.context_length", 1u << 21);
        copy_all(in, w, "qwen3moe.context_length", "");
    });
    engine            e(opts(path));
    ASSERT_EQ(e.hparams().n_ctx_train, 1 << 21);
    {
        session s(e, session_options{});
        EXPECT_EQ(s.n_ctx(), 4096);
    }
    {
        // The tiny file's own context (smaller than 4096) stays its default.
        engine  small(opts(data_path("tiny-qwen3moe-f32.gguf")));
        session s(small, session_options{});
        EXPECT_EQ(s.n_ctx(), std::min<int64_t>(4096, small.hparams().n_ctx_train));
    }
    const model_hparams & hp = e.hparams();
    // Keys and values of every layer at 2^21 positions in F16.
    const uint64_t full = static_cast<uint64_t>(hp.n_layer) * 2 * static_cast<uint64_t>(hp.n_head_kv * hp.head_dim) *
                          2 * (uint64_t{1} << 21);
    ASSERT_GT(full, uint64_t{1} << 30);
    const uint64_t rss0 = current_rss_bytes();
    session        s(e, session_options{.n_ctx = 1 << 21});
    const int32_t  four[4] = {1, 629, 282, 722};
    s.eval(four);
    const uint64_t grown = current_rss_bytes() - rss0;
    EXPECT_LT(grown, full / 16) << "RSS grew by " << grown << " bytes for 4 tokens";
    std::filesystem::remove(path);
}

// NaN weights (issue 16 item 9): the forward pass reports non-finite logits as an error
// instead of sampling from them.
TEST(model_errors, nan_weights_stop_with_an_error) {
    std::vector<float> nan_norm;
    const std::string  path = rewrite_tiny("sluice-nan.gguf", [&](const gguf_file & in, gguf_writer & w) {
        copy_all(in, w, "", "output_norm.weight");
        const gguf_tensor & t = in.require_tensor("output_norm.weight");
        nan_norm.assign(static_cast<size_t>(t.ne[0]), std::nanf(""));
        w.add_tensor("output_norm.weight", ggml_type::F32, {t.ne[0]}, nan_norm.data(), nan_norm.size() * 4);
    });
    engine             e(opts(path));
    session            s(e, session_options{.n_ctx = 16});
    const int32_t      two[2] = {1, 629};
    const std::string  msg    = message_of([&] { s.eval(two); });
    EXPECT_NE(msg.find("non-finite logit"), std::string::npos) << msg;
    session           b(e, session_options{.n_ctx = 16});
    session *         both[1] = {&b};
    const int32_t     one[1]  = {1};
    const std::string batch   = message_of([&] { decode_batch(both, one); });
    EXPECT_NE(batch.find("non-finite logit"), std::string::npos) << batch;
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace sluice::test
