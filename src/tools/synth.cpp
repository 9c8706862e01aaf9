#include "tools/synth.h"

#include "gguf/gguf.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <random>

namespace sluice {
namespace {

const synth_geometry k_geometries[] = {
    // name, layers, d, heads, kv heads, head dim, experts, used, expert ff, vocab, ctx, rope base
    {"qwen3-30b-a3b", 48, 2048, 32, 4, 128, 128, 8, 768, 151936, 40960, 1e6},
    {"qwen3-235b-a22b", 94, 4096, 64, 4, 128, 128, 8, 1536, 151936, 40960, 1e6},
    {"olmoe-1b-7b", 16, 2048, 16, 16, 128, 64, 8, 1024, 50304, 4096, 1e4},
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

}  // namespace

std::vector<std::string_view> geometry_names() {
    std::vector<std::string_view> n;
    for (const auto & g : k_geometries) {
        n.push_back(g.name);
    }
    return n;
}

synth_geometry find_geometry(std::string_view name) {
    for (const auto & g : k_geometries) {
        if (g.name == name) {
            return g;
        }
    }
    fail("synth: no geometry '{}' (known: {})", name, fmt::join(geometry_names(), ", "));
}

uint64_t write_synthetic_model(const synth_options & opt, const std::string & path, thread_pool & pool) {
    if (opt.arch != "qwen3moe") {
        fail("synth: architecture '{}' is not supported (supported: qwen3moe)", opt.arch);
    }
    if (!can_quantize(opt.type)) {
        fail("synth: cannot write weights of type {}", type_name(opt.type));
    }
    synth_geometry g = find_geometry(opt.like);
    if (opt.n_vocab > 0) {
        g.n_vocab = opt.n_vocab;
    }
    if (opt.n_layer > 0) {
        g.n_layer = opt.n_layer;
    }
    const std::string a = opt.arch;
    gguf_writer       w;
    w.set_string("general.architecture", a);
    w.set_string("general.name", fmt::format("synthetic {} ({} layers, {})", g.name, g.n_layer, type_name(opt.type)));
    w.set_u32(a + ".block_count", static_cast<uint32_t>(g.n_layer));
    w.set_u32(a + ".context_length", static_cast<uint32_t>(g.n_ctx));
    w.set_u32(a + ".embedding_length", static_cast<uint32_t>(g.n_embd));
    w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(g.n_ff_expert));
    w.set_u32(a + ".expert_feed_forward_length", static_cast<uint32_t>(g.n_ff_expert));
    w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(g.n_head));
    w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(g.n_head_kv));
    w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(g.head_dim));
    w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(g.head_dim));
    w.set_f32(a + ".rope.freq_base", static_cast<float>(g.rope_base));
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
    w.set_u32(a + ".expert_count", static_cast<uint32_t>(g.n_expert));
    w.set_u32(a + ".expert_used_count", static_cast<uint32_t>(g.n_expert_used));

    std::mt19937_64                  rng(opt.seed);
    std::deque<std::vector<uint8_t>> buffers;  // must outlive write()
    uint64_t                         seed = opt.seed;
    // A matrix of `rows` rows of `cols` (times `stack` experts), filled from a row pool.
    auto matrix = [&](const std::string & name, ggml_type t, int64_t cols, int64_t rows, int64_t stack) {
        const row_pool   rp(t, cols, rng, 0.02f);
        const uint64_t   rb    = row_bytes(t, cols);
        const int64_t    total = rows * stack;
        std::vector<uint8_t> & buf = buffers.emplace_back(static_cast<uint64_t>(total) * rb);
        const int64_t          chunk = 1024;
        pool.parallel_for((total + chunk - 1) / chunk, [&](int64_t task, int) {
            const int64_t r0 = task * chunk;
            rp.fill(buf.data() + r0 * rb, std::min(chunk, total - r0), seed * 1000003u + static_cast<uint64_t>(task));
        });
        ++seed;
        std::vector<int64_t> dims = {cols, rows};
        if (stack > 1) {
            dims.push_back(stack);
        }
        w.add_tensor(name, t, dims, buf.data(), buf.size());
    };
    auto ones = [&](const std::string & name, int64_t n) {
        std::vector<uint8_t> & buf = buffers.emplace_back(n * sizeof(float));
        const float            one = 1.0f;
        for (int64_t i = 0; i < n; ++i) {
            std::memcpy(buf.data() + i * sizeof(float), &one, sizeof one);
        }
        w.add_tensor(name, ggml_type::F32, {n}, buf.data(), buf.size());
    };

    const ggml_type t = opt.type;
    matrix("token_embd.weight", t, g.n_embd, g.n_vocab, 1);
    ones("output_norm.weight", g.n_embd);
    matrix("output.weight", t, g.n_embd, g.n_vocab, 1);
    for (int64_t l = 0; l < g.n_layer; ++l) {
        const auto n = [&](const char * s) { return fmt::format("blk.{}.{}.weight", l, s); };
        ones(n("attn_norm"), g.n_embd);
        matrix(n("attn_q"), t, g.n_embd, g.n_head * g.head_dim, 1);
        matrix(n("attn_k"), t, g.n_embd, g.n_head_kv * g.head_dim, 1);
        matrix(n("attn_v"), t, g.n_embd, g.n_head_kv * g.head_dim, 1);
        matrix(n("attn_output"), t, g.n_head * g.head_dim, g.n_embd, 1);
        ones(n("attn_q_norm"), g.head_dim);
        ones(n("attn_k_norm"), g.head_dim);
        ones(n("ffn_norm"), g.n_embd);
        matrix(n("ffn_gate_inp"), ggml_type::F32, g.n_embd, g.n_expert, 1);
        matrix(n("ffn_gate_exps"), t, g.n_embd, g.n_ff_expert, g.n_expert);
        matrix(n("ffn_up_exps"), t, g.n_embd, g.n_ff_expert, g.n_expert);
        matrix(n("ffn_down_exps"), t, g.n_ff_expert, g.n_embd, g.n_expert);
    }
    w.write(path);
    uint64_t total = 0;
    for (const auto & b : buffers) {
        total += b.size();
    }
    return total;
}

}  // namespace sluice
