#include "tools/synth.h"

#include "gguf/gguf.h"
#include "model/tensor_table.h"
#include "tensor/blocks.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <random>

namespace sluice {
namespace {

const synth_geometry k_geometries[] = {
    // name, arch, layers, d, heads, kv heads, head dim, experts, used, expert ff, vocab, ctx, rope base
    // [, shared expert ff, sliding window]
    {"qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 128, 8, 768, 151936, 40960, 1e6},
    {"qwen3-235b-a22b", "qwen3moe", 94, 4096, 64, 4, 128, 128, 8, 1536, 151936, 40960, 1e6},
    {"olmoe-1b-7b", "olmoe", 16, 2048, 16, 16, 128, 64, 8, 1024, 50304, 4096, 1e4},
    {"mixtral-8x7b", "llama", 32, 4096, 32, 8, 128, 8, 2, 14336, 32000, 32768, 1e6},
    {"qwen1.5-moe-a2.7b", "qwen2moe", 24, 2048, 16, 16, 128, 60, 4, 1408, 151936, 8192, 1e6, 5632},
    {"gpt-oss-20b", "gpt-oss", 24, 2880, 64, 8, 64, 32, 4, 2880, 201088, 131072, 150000, 0, 128},
    // DeepSeek-V2-Lite: MLA (no q compression, kv_lora 512, heads of 128 + 64 RoPE, values
    // 128), one leading dense block, 2 shared experts, softmax routing. YaRN is left out.
    {.name            = "deepseek-v2-lite",
     .arch            = "deepseek2",
     .n_layer         = 27,
     .n_embd          = 2048,
     .n_head          = 16,
     .n_head_kv       = 1,
     .head_dim        = 576,
     .n_expert        = 64,
     .n_expert_used   = 6,
     .n_ff_expert     = 1408,
     .n_vocab         = 102400,
     .n_ctx           = 163840,
     .rope_base       = 1e4,
     .n_ff_shared     = 2816,
     .n_expert_shared = 2,
     .n_layer_dense   = 1,
     .n_ff_dense      = 10944,
     .q_lora          = 0,
     .kv_lora         = 512,
     .qk_nope         = 128,
     .qk_rope         = 64,
     .v_head          = 128},
    // Qwen3-Next-80B-A3B: every 4th block gated attention (heads of 256, 64 RoPE dims), the
    // others gated DeltaNet (16 key heads, 32 value heads of 128); 512 experts, a shared one.
    {.name                    = "qwen3-next-80b-a3b",
     .arch                    = "qwen3next",
     .n_layer                 = 48,
     .n_embd                  = 2048,
     .n_head                  = 16,
     .n_head_kv               = 2,
     .head_dim                = 256,
     .n_expert                = 512,
     .n_expert_used           = 10,
     .n_ff_expert             = 512,
     .n_vocab                 = 151936,
     .n_ctx                   = 262144,
     .rope_base               = 1e7,
     .n_ff_shared             = 512,
     .n_expert_shared         = 1,
     .rope_dim                = 64,
     .full_attention_interval = 4,
     .ssm_k_heads             = 16,
     .ssm_v_heads             = 32,
     .ssm_head_dim            = 128,
     .ssm_conv_kernel         = 4},
};

// Random matrices are made from a pool of quantized random rows: each output row is a pool
// row picked at random. Quantizing gigabytes with scale search would take minutes; the
// benchmarks need the bytes and the geometry, not distinct values.
class row_pool {
  public:
    row_pool(ggml_type type, int64_t cols, std::mt19937_64 & rng, float stddev) : rb_(row_bytes(type, cols)) {
        std::normal_distribution<float> dist(0.0f, stddev);
        std::vector<float>              row(cols);
        data_.resize(k_rows * rb_);
        if (type == ggml_type::MXFP4) {  // no quantizer: random E2M1 nibbles, scale 2^-9 (|x| <= 0.023)
            for (uint64_t i = 0; i < data_.size(); ++i) {
                data_[i] = i % sizeof(block_mxfp4) == 0 ? 119 : static_cast<uint8_t>(rng());
            }
            return;
        }
        for (int r = 0; r < k_rows; ++r) {
            for (float & v : row) {
                v = dist(rng);
            }
            quantize_row(type, row.data(), data_.data() + r * rb_, cols);
        }
    }
    void fill(uint8_t * dst, int64_t rows, uint64_t seed) const {
        std::mt19937_64 rng(seed);
        for (int64_t r = 0; r < rows; ++r) {
            std::memcpy(dst + r * rb_, data_.data() + (rng() % k_rows) * rb_, rb_);
        }
    }

  private:
    static constexpr int k_rows = 64;
    uint64_t             rb_;
    std::vector<uint8_t> data_;
};

// The hyper-parameters the written metadata gives (what read_moe_hparams will read).
model_hparams hparams_of(const synth_geometry & g) {
    model_hparams hp;
    hp.arch                    = g.arch;
    hp.n_layer                 = g.n_layer;
    hp.n_embd                  = g.n_embd;
    hp.n_vocab                 = g.n_vocab;
    hp.n_head                  = g.n_head;
    hp.n_head_kv               = g.n_head_kv;
    hp.head_dim                = g.head_dim;
    hp.n_expert                = g.n_expert;
    hp.n_expert_used           = g.n_expert_used;
    hp.n_ff_expert             = g.n_ff_expert;
    hp.n_ff                    = g.n_ff_dense > 0 ? g.n_ff_dense : g.n_ff_expert;
    hp.n_ff_shared             = g.n_ff_shared;
    hp.n_expert_shared         = g.n_expert_shared;
    hp.n_layer_dense_lead      = g.n_layer_dense;
    hp.q_lora_rank             = g.q_lora;
    hp.kv_lora_rank            = g.kv_lora;
    hp.head_dim_mla            = g.qk_nope + g.qk_rope;
    hp.v_head_dim_mla          = g.v_head;
    hp.rope_dim                = g.arch == "deepseek2" ? g.qk_rope : g.rope_dim > 0 ? g.rope_dim : g.head_dim;
    hp.full_attention_interval = g.full_attention_interval;
    hp.ssm_conv_kernel         = g.ssm_conv_kernel;
    hp.ssm_state_size          = g.ssm_head_dim;
    hp.ssm_group_count         = g.ssm_k_heads;
    hp.ssm_time_step_rank      = g.ssm_v_heads;
    hp.ssm_inner_size          = g.ssm_v_heads * g.ssm_head_dim;
    return hp;
}

}  // namespace

std::vector<std::string_view> geometry_names() {
    std::vector<std::string_view> n;
    for (const auto & g : k_geometries) {
        n.push_back(g.name);
    }
    return n;
}

namespace {

// tokenizer.* of `from` into w, the vocabulary padded to n_vocab with unused tokens (llama.cpp's
// token type 5) that no text produces unless it spells them.
void copy_tokenizer(const std::string & from, int64_t n_vocab, gguf_writer & w) {
    const gguf_file    src  = gguf_file::open(from);
    const gguf_value * toks = src.get_array("tokenizer.ggml.tokens");
    if (toks == nullptr || toks->elem_type != gguf_value_type::STRING) {
        fail("synth --tokenizer-from: {} has no tokenizer (tokenizer.ggml.tokens)", from);
    }
    const auto n_src = static_cast<int64_t>(toks->count);
    if (n_vocab < n_src) {
        fail("synth --tokenizer-from: the vocabulary of {} tokens is smaller than the {} of {}", n_vocab, n_src, from);
    }
    constexpr int32_t k_unused = 5;  // llama.cpp's LLAMA_TOKEN_TYPE_UNUSED
    for (const gguf_kv & kv : src.metadata()) {
        if (!kv.key.starts_with("tokenizer.")) {
            continue;
        }
        const std::string key(kv.key);
        if (key == "tokenizer.ggml.tokens") {
            std::vector<std::string> tokens(toks->strings.begin(), toks->strings.end());
            for (int64_t i = n_src; i < n_vocab; ++i) {
                tokens.push_back(fmt::format("<unused {}>", i));
            }
            w.set_array_strings(key, tokens);
        } else if (key == "tokenizer.ggml.scores" && kv.value.type == gguf_value_type::ARRAY &&
                   kv.value.count == toks->count) {
            std::vector<float> scores(static_cast<size_t>(n_vocab), 0.0f);
            for (int64_t i = 0; i < n_src; ++i) {
                scores[i] = static_cast<float>(kv.value.array_f64(static_cast<uint64_t>(i)));
            }
            w.set_array_f32(key, scores);
        } else if (key == "tokenizer.ggml.token_type" && kv.value.type == gguf_value_type::ARRAY &&
                   kv.value.count == toks->count) {
            std::vector<int32_t> types(static_cast<size_t>(n_vocab), k_unused);
            for (int64_t i = 0; i < n_src; ++i) {
                types[i] = static_cast<int32_t>(kv.value.array_i64(static_cast<uint64_t>(i)));
            }
            w.set_array_i32(key, types);
        } else if (key != "tokenizer.ggml.scores" && key != "tokenizer.ggml.token_type") {
            w.set_value(key, kv.value);
        } else {
            fail("synth --tokenizer-from: {}: '{}' does not have one entry per token", from, key);
        }
    }
}

}  // namespace

synth_geometry find_geometry(std::string_view name) {
    for (const auto & g : k_geometries) {
        if (g.name == name) {
            return g;
        }
    }
    fail("synth: no geometry '{}' (known: {})", name, fmt::join(geometry_names(), ", "));
}

uint64_t write_synthetic_model(const synth_options & opt, const std::string & path, thread_pool & pool) {
    if (!can_quantize(opt.type)) {
        fail("synth: cannot write weights of type {}", type_name(opt.type));
    }
    synth_geometry g = find_geometry(opt.like);
    if (!opt.arch.empty() && opt.arch != g.arch) {
        fail("synth: geometry '{}' is a {} model, not {}", g.name, g.arch, opt.arch);
    }
    if (opt.n_vocab > 0) {
        g.n_vocab = opt.n_vocab;
    }
    if (opt.n_layer > 0) {
        g.n_layer = opt.n_layer;
    }
    return write_synthetic_model(g, opt, path, pool);
}

uint64_t write_synthetic_model(const synth_geometry & g, const synth_options & opt, const std::string & path,
                               thread_pool & pool) {
    if (!can_quantize(opt.type)) {
        fail("synth: cannot write weights of type {}", type_name(opt.type));
    }
    if (tensor_table(g.arch).empty()) {
        fail("synth: architecture '{}' has no tensor table", g.arch);
    }
    const std::string   a       = g.arch;
    const bool          gpt_oss = a == "gpt-oss";
    const model_hparams hp      = hparams_of(g);  // what the metadata below says
    gguf_writer         w;
    const auto u32 = [&](const std::string & k, int64_t v) { w.set_u32(a + "." + k, static_cast<uint32_t>(v)); };
    w.set_string("general.architecture", a);
    w.set_string("general.name", fmt::format("synthetic {} ({} layers, {})", g.name, g.n_layer, type_name(opt.type)));
    u32("block_count", g.n_layer);
    u32("context_length", g.n_ctx);
    u32("embedding_length", g.n_embd);
    u32("feed_forward_length", hp.n_ff);
    u32("expert_feed_forward_length", g.n_ff_expert);
    if (g.n_ff_shared > 0) {
        u32("expert_shared_feed_forward_length", g.n_ff_shared);
    }
    if (g.sliding_window > 0) {
        u32("attention.sliding_window", g.sliding_window);
    }
    u32("attention.head_count", g.n_head);
    u32("attention.head_count_kv", g.n_head_kv);
    u32("attention.key_length", g.head_dim);
    u32("attention.value_length", a == "deepseek2" ? g.kv_lora : g.head_dim);  // MLA: the latent's sizes
    u32("rope.dimension_count", hp.rope_dim);
    w.set_f32(a + ".rope.freq_base", static_cast<float>(g.rope_base));
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
    u32("expert_count", g.n_expert);
    u32("expert_used_count", g.n_expert_used);
    if (a == "deepseek2") {
        u32("leading_dense_block_count", g.n_layer_dense);
        u32("attention.kv_lora_rank", g.kv_lora);
        if (g.q_lora > 0) {
            u32("attention.q_lora_rank", g.q_lora);
        }
        u32("attention.key_length_mla", g.qk_nope + g.qk_rope);
        u32("attention.value_length_mla", g.v_head);
        u32("expert_shared_count", g.n_expert_shared);
        u32("expert_gating_func", 1);  // softmax (V2); V3's sigmoid + groups are tested on the tiny fixture
        w.set_f32(a + ".expert_weights_scale", 1.0f);
    } else if (a == "qwen3next") {
        u32("full_attention_interval", g.full_attention_interval);
        u32("ssm.conv_kernel", g.ssm_conv_kernel);
        u32("ssm.state_size", g.ssm_head_dim);
        u32("ssm.group_count", g.ssm_k_heads);
        u32("ssm.time_step_rank", g.ssm_v_heads);
        u32("ssm.inner_size", g.ssm_v_heads * g.ssm_head_dim);
    }

    if (!opt.tokenizer_from.empty()) {
        copy_tokenizer(opt.tokenizer_from, g.n_vocab, w);
    }

    // The file is written tensor by tensor: every tensor is declared first (the head holds
    // all sizes), then produced in the same order while the file is written, so memory holds
    // one tensor, not the whole model. Random numbers are drawn in that order, as before.
    std::mt19937_64                                          rng(opt.seed);
    uint64_t                                                 seed = opt.seed;
    std::vector<std::function<void(std::vector<uint8_t> &)>> makers;  // per tensor, in order
    uint64_t                                                 total = 0;
    // A matrix of `rows` rows of `cols` (times `stack` experts), filled from a row pool. Rows
    // the type's blocks do not divide fall back to Q8_0 or F16, as quantizers do.
    auto matrix = [&](const std::string & name, ggml_type t, int64_t cols, int64_t rows, int64_t stack) {
        t                         = storable_type(t, cols);
        std::vector<int64_t> dims = {cols, rows};
        if (stack > 1) {
            dims.push_back(stack);
        }
        w.add_tensor_info(name, t, dims);
        const uint64_t rb = row_bytes(t, cols);
        total += static_cast<uint64_t>(rows * stack) * rb;
        makers.push_back([&rng, &seed, &pool, t, cols, rb, n = rows * stack](std::vector<uint8_t> & buf) {
            const row_pool rp(t, cols, rng, 0.02f);
            buf.resize(static_cast<uint64_t>(n) * rb);
            const int64_t chunk = 1024;
            pool.parallel_for((n + chunk - 1) / chunk, [&](int64_t task, int) {
                const int64_t r0 = task * chunk;
                rp.fill(buf.data() + r0 * rb, std::min(chunk, n - r0), seed * 1000003u + static_cast<uint64_t>(task));
            });
            ++seed;
        });
    };
    // An F32 tensor of `dims` filled with `value` (norms 1, biases and sinks 0).
    auto constant = [&](const std::string & name, std::vector<int64_t> dims, float value) {
        int64_t n = 1;
        for (int64_t d : dims) {
            n *= d;
        }
        w.add_tensor_info(name, ggml_type::F32, dims);
        total += static_cast<uint64_t>(n) * sizeof(float);
        makers.push_back([n, value](std::vector<uint8_t> & buf) {
            buf.resize(static_cast<uint64_t>(n) * sizeof(float));
            for (int64_t i = 0; i < n; ++i) {
                std::memcpy(buf.data() + i * sizeof(float), &value, sizeof value);
            }
        });
    };

    // The tensors come from the architecture's table: every tensor it names (optional ones
    // too: a zero selection bias changes no choice), with the shapes its builder checks.
    const tensor_dims dims(hp);
    const ggml_type   t_x  = gpt_oss ? ggml_type::MXFP4 : opt.type;  // routed experts, as released
    const auto        emit = [&](const tensor_spec & s, int64_t layer) {
        const std::vector<int64_t> shape = dims.shape(s);
        if (shape.size() == 1 || s.role == tensor_role::EXPERT_BIAS) {  // norms 1, biases 0, DeltaNet's decay -1
            constant(s.file_name(layer), shape, s.init);
            return;
        }
        const ggml_type type = s.f32 ? ggml_type::F32 : s.role == tensor_role::EXPERTS ? t_x : opt.type;
        matrix(s.file_name(layer), type, shape[0], shape[1], shape.size() > 2 ? shape[2] : 1);
    };
    const std::span<const tensor_spec> table = tensor_table(a);
    for (const tensor_spec & s : table) {
        if (s.where == block_set::GLOBAL) {
            emit(s, 0);
        }
    }
    for (int64_t l = 0; l < g.n_layer; ++l) {
        for (const tensor_spec & s : table) {
            if (block_has(s, hp, l)) {
                emit(s, l);
            }
        }
    }
    std::vector<uint8_t> buf;
    uint64_t             done = 0;
    progress_bar         bar("synth", total);
    w.write(path, [&](size_t i) -> std::span<const uint8_t> {
        makers[i](buf);
        done += buf.size();
        bar.update(done);
        return buf;
    });
    return total;
}

}  // namespace sluice
