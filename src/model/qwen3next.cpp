// qwen3next: Qwen3-Next-80B-A3B (instruct and thinking).
//
// A hybrid: every full_attention_interval-th block (3, 7, ... for 4) is gated full
// attention, the others gated DeltaNet linear attention (delta_net.h). Per block: RMSNorm
// -> attention or DeltaNet -> residual; RMSNorm (post_attention_norm) -> MoE -> residual.
// Gated attention: attn_q gives per head a query and an output gate; per-head RMSNorm of q
// and k, NeoX RoPE on the first rope.dimension_count dims, causal GQA over the KV cache,
// output * sigmoid(gate), attn_output. MoE: softmax top-k renormalised, plus a shared
// expert scaled by sigmoid(ffn_gate_inp_shexp . h). The session state holds the KV cache of
// the attention blocks and the convolution + recurrent state of the DeltaNet blocks.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/delta_net.h"
#include "model/layers.h"
#include "model/moe.h"
#include "model/token_io.h"
#include "model/weights.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace sluice {
namespace {

struct attn_weights {
    weight_matrix      wq{}, wk{}, wv{}, wo{};  // wq: n_head * 2 * head_dim rows (query, gate per head)
    std::vector<float> q_norm, k_norm;
};

struct qwen3next_block {
    bool               recurrent = false;
    std::vector<float> attn_norm, post_norm, shared_gate;
    attn_weights       attn;
    delta_net_weights  delta;
    weight_matrix      router{};
    shared_expert      shared{};
    moe_options        moe{};  // routing and the shared expert
};

// The KV cache covers the attention blocks only (numbered among themselves); the DeltaNet
// blocks keep a delta_net_state each.
class hybrid_state final : public model_state {
  public:
    hybrid_state(int64_t n_attn, int64_t n_ctx, int64_t kv_row, ggml_type kv_type, int64_t n_rec,
                 const delta_net_geometry & g)
        : model_state(n_attn, n_ctx, kv_row, kv_type, true), rec(n_rec, delta_net_state(g)) {}

    std::vector<delta_net_state> rec;
};

class qwen3next final : public model {
  public:
    explicit qwen3next(const gguf_file & f);

    const model_hparams &     hparams() const override { return hp_; }
    const expert_store &      experts() const override { return *experts_; }
    std::span<const moe_gate> gates() const override { return gates_; }

    std::unique_ptr<model_state> new_state(int64_t n_ctx, ggml_type kv_type) const override {
        const int64_t n_attn = hp_.n_layer / hp_.full_attention_interval;
        return std::make_unique<hybrid_state>(n_attn, n_ctx, hp_.n_head_kv * hp_.head_dim, kv_type,
                                              hp_.n_layer - n_attn, geo_);
    }

    void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx, float * logits,
                 bool all_logits) const override;

  private:
    bool    is_recurrent(int64_t l) const { return (l + 1) % hp_.full_attention_interval != 0; }
    int64_t attn_index(int64_t l) const { return (l + 1) / hp_.full_attention_interval - 1; }
    int64_t rec_index(int64_t l) const { return l - (l + 1) / hp_.full_attention_interval; }

    void gated_attention(const attn_weights & w, const float * h, int64_t n, int64_t pos0, kv_cache & kv,
                         int64_t kv_layer, matmul_runner & mm, float * out) const;

    model_hparams                hp_;
    delta_net_geometry           geo_;
    token_io                     io_;
    std::vector<qwen3next_block> blocks_;
    std::optional<expert_store>  experts_;
    std::vector<moe_gate>        gates_;
};

int64_t require_key(const gguf_file & f, int64_t value, const char * key) {
    if (value <= 0) {
        fail("{}: metadata 'qwen3next.{}' is missing", f.path(), key);
    }
    return value;
}

qwen3next::qwen3next(const gguf_file & f) : hp_(read_moe_hparams(f, "qwen3next")) {
    const int64_t d = hp_.n_embd, hd = hp_.head_dim;
    require_key(f, hp_.n_ff_expert, "expert_feed_forward_length");
    if (hp_.full_attention_interval == 0) {
        hp_.full_attention_interval = 4;  // llama.cpp's default when the key is absent
    }
    geo_ = delta_net_geometry{.n_embd      = d,
                              .n_k_heads   = require_key(f, hp_.ssm_group_count, "ssm.group_count"),
                              .n_v_heads   = require_key(f, hp_.ssm_time_step_rank, "ssm.time_step_rank"),
                              .head_k      = require_key(f, hp_.ssm_state_size, "ssm.state_size"),
                              .head_v      = 0,
                              .conv_kernel = require_key(f, hp_.ssm_conv_kernel, "ssm.conv_kernel"),
                              .eps         = hp_.rms_eps};
    require_key(f, hp_.ssm_inner_size, "ssm.inner_size");
    if (geo_.n_v_heads % geo_.n_k_heads != 0 || hp_.ssm_inner_size % geo_.n_v_heads != 0) {
        fail("{}: {} DeltaNet value heads (inner size {}) cannot share {} key heads", f.path(), geo_.n_v_heads,
             hp_.ssm_inner_size, geo_.n_k_heads);
    }
    geo_.head_v             = hp_.ssm_inner_size / geo_.n_v_heads;
    const int64_t ff_shared = hp_.n_ff_shared > 0 ? hp_.n_ff_shared : hp_.n_ff_expert;
    io_                     = token_io::load(f, d);
    hp_.n_vocab             = io_.n_vocab;

    std::vector<expert_layer_tensors> expert_tensors;
    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const block_tensors t(f, l);
        qwen3next_block     w;
        w.recurrent = is_recurrent(l);
        w.attn_norm = t.vector("attn_norm", d);
        w.post_norm = t.vector("post_attention_norm", d);
        if (w.recurrent) {
            w.delta = load_delta_net_weights(f, l, geo_);
        } else {
            w.attn.wq     = t.matrix("attn_q", d, hp_.n_head * 2 * hd);
            w.attn.wk     = t.matrix("attn_k", d, hp_.n_head_kv * hd);
            w.attn.wv     = t.matrix("attn_v", d, hp_.n_head_kv * hd);
            w.attn.wo     = t.matrix("attn_output", hp_.n_head * hd, d);
            w.attn.q_norm = t.vector("attn_q_norm", hd);
            w.attn.k_norm = t.vector("attn_k_norm", hd);
        }
        w.router      = t.matrix("ffn_gate_inp", d, hp_.n_expert);
        w.shared_gate = t.vector("ffn_gate_inp_shexp", d);
        w.shared      = {t.matrix("ffn_gate_shexp", d, ff_shared), t.matrix("ffn_up_shexp", d, ff_shared),
                         t.matrix("ffn_down_shexp", ff_shared, d), nullptr};
        expert_tensors.push_back(t.experts());
        blocks_.push_back(std::move(w));
    }
    experts_.emplace(f, std::move(expert_tensors), d, hp_.n_ff_expert, static_cast<int>(hp_.n_expert));
    for (qwen3next_block & w : blocks_) {  // blocks_ no longer grows: the pointers stay valid
        w.shared.gate_inp = w.shared_gate.data();
        w.moe             = moe_options{.n_expert      = static_cast<int>(hp_.n_expert),
                                        .n_expert_used = static_cast<int>(hp_.n_expert_used),
                                        .normalize     = true,
                                        .shared        = &w.shared};
        gates_.push_back(moe_gate{.norm = w.post_norm.data(), .eps = hp_.rms_eps, .router = w.router});
    }
}

void qwen3next::gated_attention(const attn_weights & w, const float * h, int64_t n, int64_t pos0, kv_cache & kv,
                                int64_t kv_layer, matmul_runner & mm, float * out) const {
    const int64_t      hd = hp_.head_dim, H = hp_.n_head, kv_dim = hp_.n_head_kv * hd;
    std::vector<float> qg(n * H * 2 * hd), q(n * H * hd), gate(n * H * hd), k(n * kv_dim), v(n * kv_dim);
    if (n == 1) {
        const matvec_job jobs[3] = {{&w.wq, h, qg.data()}, {&w.wk, h, k.data()}, {&w.wv, h, v.data()}};
        mm.matvec_many(jobs);
    } else {
        mm.matmul(w.wq, h, n, qg.data());
        mm.matmul(w.wk, h, n, k.data());
        mm.matmul(w.wv, h, n, v.data());
    }
    for (int64_t r = 0; r < n * H; ++r) {  // per head: the query, then its output gate
        std::copy_n(qg.data() + r * 2 * hd, hd, q.data() + r * hd);
        std::copy_n(qg.data() + r * 2 * hd + hd, hd, gate.data() + r * hd);
    }
    rms_norm(q.data(), w.q_norm.data(), q.data(), n * H, hd, hp_.rms_eps);
    rms_norm(k.data(), w.k_norm.data(), k.data(), n * hp_.n_head_kv, hd, hp_.rms_eps);
    rope_neox(q.data(), n, pos0, H, hd, hp_.rope_dim, hp_.rope_base);
    rope_neox(k.data(), n, pos0, hp_.n_head_kv, hd, hp_.rope_dim, hp_.rope_base);
    kv.store(kv_layer, pos0, n, k.data(), v.data());
    std::vector<float> att(n * H * hd);
    attention(kv, kv_layer, q.data(), n, pos0, H, hp_.n_head_kv, hd, mm.target(), mm.pool(), att.data());
    for (int64_t i = 0; i < n * H * hd; ++i) {
        att[i] *= 1.0f / (1.0f + std::exp(-gate[i]));
    }
    mm.matmul(w.wo, att.data(), n, out);
}

void qwen3next::forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                        float * logits, bool all_logits) const {
    const auto    n    = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = state.n_past;
    if (n == 0) {
        return;
    }
    check_tokens(tokens, pos0, state.n_ctx(), hp_.n_vocab);
    auto & st = static_cast<hybrid_state &>(state);
    if (pos0 == 0) {  // a new sequence (or session::reset): the recurrent states start at zero
        for (delta_net_state & r : st.rec) {
            r.clear();
        }
    }
    const int64_t      d = hp_.n_embd;
    std::vector<float> x(n * d), h(n * d), o(n * d);
    io_.embed(tokens, x.data());

    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const qwen3next_block & w = blocks_[l];
        rms_norm(x.data(), w.attn_norm.data(), h.data(), n, d, hp_.rms_eps);
        if (w.recurrent) {
            delta_net(w.delta, geo_, h.data(), n, st.rec[rec_index(l)], ctx.mm, o.data());
        } else {
            gated_attention(w.attn, h.data(), n, pos0, st.kv, attn_index(l), ctx.mm, o.data());
        }
        add_residual(x.data(), o.data(), n * d);

        ctx.experts.on_ffn_input(static_cast<int>(l), x.data(), n);
        rms_norm(x.data(), w.post_norm.data(), h.data(), n, d, hp_.rms_eps);
        moe_block(h.data(), n, pos0, static_cast<int>(l), w.router, w.moe, ctx, o.data());
        add_residual(x.data(), o.data(), n * d);
    }
    state.n_past = pos0 + n;
    io_.logits(x.data(), n, all_logits, hp_.rms_eps, h.data(), ctx.mm, logits);
}

}  // namespace

std::unique_ptr<model> build_qwen3next(const gguf_file & file) {
    return std::make_unique<qwen3next>(file);
}

}  // namespace sluice
