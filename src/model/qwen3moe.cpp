// qwen3moe: Qwen3-30B-A3B, Qwen3-235B-A22B and their fine-tunes.
//
// Per layer: RMSNorm -> Q/K/V -> per-head RMSNorm of q and k -> NeoX RoPE -> causal GQA ->
// output projection -> residual; RMSNorm -> router softmax -> top-k (renormalised) -> SwiGLU
// experts -> weighted sum -> residual. No shared expert, no attention biases.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/layers.h"
#include "model/moe.h"
#include "model/weights.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace sluice {
namespace {

struct layer_weights {
    std::vector<float> attn_norm, q_norm, k_norm, ffn_norm;
    weight_matrix      wq, wk, wv, wo, router;
};

class qwen3moe final : public model {
  public:
    explicit qwen3moe(const gguf_file & f);

    const model_hparams & hparams() const override { return hp_; }
    const expert_store &  experts() const override { return *experts_; }
    std::span<const moe_gate> gates() const override { return gates_; }

    void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx, float * logits,
                 bool all_logits) const override;
    void forward_batch(std::span<model_state * const> states, std::span<const int32_t> tokens,
                       const forward_context & ctx, float * logits) const override;

  private:
    // Rows [row0, row0 + n) of a pass belong to one sequence at positions pos0.. of its state.
    struct segment {
        model_state * state;
        int64_t       row0, n, pos0;
    };

    void embed(std::span<const int32_t> tokens, float * x) const;
    void check_tokens(std::span<const int32_t> tokens) const;
    // The forward pass over rows from one or more sequences: dense products and the MoE block
    // see all rows at once, RoPE / KV cache / attention go per segment. positions (nullptr:
    // consecutive from segs[0].pos0) are for the routing observer. Writes logits of rows
    // [first_logit_row, n).
    void run(std::span<const segment> segs, std::span<const int32_t> tokens, const int64_t * positions,
             const forward_context & ctx, float * logits, int64_t first_logit_row) const;

    model_hparams               hp_;
    const gguf_tensor *         token_embd_ = nullptr;
    std::vector<float>          output_norm_;
    weight_matrix               output_{};
    std::vector<layer_weights>  layers_;
    std::optional<expert_store> experts_;
    std::vector<moe_gate>       gates_;
};

qwen3moe::qwen3moe(const gguf_file & f) : hp_(read_moe_hparams(f, "qwen3moe")) {
    const int64_t d = hp_.n_embd, hd = hp_.head_dim;
    const int64_t q_dim = hp_.n_head * hd, kv_dim = hp_.n_head_kv * hd;
    if (hp_.n_ff_expert == 0) {
        fail("{}: metadata 'qwen3moe.expert_feed_forward_length' is missing", f.path());
    }

    token_embd_ = &f.require_tensor("token_embd.weight");
    if (token_embd_->n_dims != 2 || token_embd_->ne[0] != d) {
        fail("{}: tensor 'token_embd.weight' has row length {}, expected {} (offset {})", f.path(), token_embd_->ne[0], d,
             token_embd_->info_offset);
    }
    if (!traits(token_embd_->type).computable) {
        fail("{}: tensor 'token_embd.weight' has type {}, which sluice cannot compute with", f.path(),
             type_name(token_embd_->type));
    }
    hp_.n_vocab  = token_embd_->ne[1];
    output_norm_ = require_vector(f, "output_norm.weight", d);
    output_      = optional_matrix(f, "output.weight", d, hp_.n_vocab);
    if (output_.data == nullptr) {  // tied embeddings
        output_ = weight_matrix{token_embd_->type, hp_.n_vocab, d, token_embd_->row_bytes(), token_embd_->data};
    }

    std::vector<expert_layer_tensors> expert_tensors;
    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const auto     name = [&](const char * t) { return fmt::format("blk.{}.{}.weight", l, t); };
        layer_weights  w;
        w.attn_norm = require_vector(f, name("attn_norm"), d);
        w.q_norm    = require_vector(f, name("attn_q_norm"), hd);
        w.k_norm    = require_vector(f, name("attn_k_norm"), hd);
        w.ffn_norm  = require_vector(f, name("ffn_norm"), d);
        w.wq        = require_matrix(f, name("attn_q"), d, q_dim);
        w.wk        = require_matrix(f, name("attn_k"), d, kv_dim);
        w.wv        = require_matrix(f, name("attn_v"), d, kv_dim);
        w.wo        = require_matrix(f, name("attn_output"), q_dim, d);
        w.router    = require_matrix(f, name("ffn_gate_inp"), d, hp_.n_expert);
        layers_.push_back(std::move(w));
        expert_tensors.push_back({&f.require_tensor(name("ffn_gate_exps")), &f.require_tensor(name("ffn_up_exps")),
                                  &f.require_tensor(name("ffn_down_exps"))});
    }
    experts_.emplace(f, std::move(expert_tensors), d, hp_.n_ff_expert, static_cast<int>(hp_.n_expert));
    for (const layer_weights & w : layers_) {  // layers_ no longer grows: the pointers stay valid
        gates_.push_back(moe_gate{.norm = w.ffn_norm.data(), .eps = hp_.rms_eps, .router = w.router});
    }
}

void qwen3moe::embed(std::span<const int32_t> tokens, float * x) const {
    const uint64_t rb = token_embd_->row_bytes();
    for (size_t t = 0; t < tokens.size(); ++t) {
        dequantize_row(token_embd_->type, token_embd_->data + rb * static_cast<uint64_t>(tokens[t]),
                       x + t * hp_.n_embd, hp_.n_embd);
    }
}

void qwen3moe::check_tokens(std::span<const int32_t> tokens) const {
    for (int32_t id : tokens) {
        if (id < 0 || id >= hp_.n_vocab) {
            fail("token id {} is out of range (vocabulary of {})", id, hp_.n_vocab);
        }
    }
}

void qwen3moe::forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                       float * logits, bool all_logits) const {
    const auto    n    = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = state.n_past;
    if (n == 0) {
        return;
    }
    if (pos0 + n > state.n_ctx()) {
        fail("context full: {} positions cached + {} new tokens exceed the context of {}", pos0, n, state.n_ctx());
    }
    check_tokens(tokens);
    const segment one[1] = {{&state, 0, n, pos0}};
    run(one, tokens, nullptr, ctx, logits, all_logits ? 0 : n - 1);
}

void qwen3moe::forward_batch(std::span<model_state * const> states, std::span<const int32_t> tokens,
                             const forward_context & ctx, float * logits) const {
    const auto n = static_cast<int64_t>(states.size());
    if (tokens.size() != states.size()) {
        fail("forward_batch: {} tokens for {} sequences", tokens.size(), states.size());
    }
    if (n <= 1) {  // the single-sequence path is the reference; nothing to share
        if (n == 1) {
            forward(*states[0], tokens, ctx, logits, false);
        }
        return;
    }
    check_tokens(tokens);
    std::vector<segment> segs;
    std::vector<int64_t> positions;
    for (int64_t i = 0; i < n; ++i) {
        model_state * st = states[i];
        if (st->n_past + 1 > st->n_ctx()) {
            fail("context full: sequence {} has {} positions cached in a context of {}", i, st->n_past, st->n_ctx());
        }
        for (int64_t j = 0; j < i; ++j) {
            if (states[j] == st) {
                fail("forward_batch: sequence {} appears twice in one step", i);
            }
        }
        segs.push_back({st, i, 1, st->n_past});
        positions.push_back(st->n_past);
    }
    run(segs, tokens, positions.data(), ctx, logits, 0);
}

void qwen3moe::run(std::span<const segment> segs, std::span<const int32_t> tokens, const int64_t * positions,
                   const forward_context & ctx, float * logits, int64_t first_logit_row) const {
    const auto    n = static_cast<int64_t>(tokens.size());
    const int64_t d = hp_.n_embd, hd = hp_.head_dim;
    const int64_t q_dim = hp_.n_head * hd, kv_dim = hp_.n_head_kv * hd;

    std::vector<float> x(n * d), h(n * d), q(n * q_dim), k(n * kv_dim), v(n * kv_dim), att(n * q_dim), o(n * d);
    embed(tokens, x.data());

    const moe_options moe{static_cast<int>(hp_.n_expert), static_cast<int>(hp_.n_expert_used), true};
    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const layer_weights & w = layers_[l];

        rms_norm(x.data(), w.attn_norm.data(), h.data(), n, d, hp_.rms_eps);
        if (n == 1) {  // one pass over the pool for all three
            const matvec_job qkv[3] = {{&w.wq, h.data(), q.data()}, {&w.wk, h.data(), k.data()},
                                       {&w.wv, h.data(), v.data()}};
            ctx.mm.matvec_many(qkv);
        } else {
            ctx.mm.matmul(w.wq, h.data(), n, q.data());
            ctx.mm.matmul(w.wk, h.data(), n, k.data());
            ctx.mm.matmul(w.wv, h.data(), n, v.data());
        }
        rms_norm(q.data(), w.q_norm.data(), q.data(), n * hp_.n_head, hd, hp_.rms_eps);
        rms_norm(k.data(), w.k_norm.data(), k.data(), n * hp_.n_head_kv, hd, hp_.rms_eps);
        // Positions and the KV cache are per sequence: each segment is one sequence's rows.
        for (const segment & s : segs) {
            float * qs = q.data() + s.row0 * q_dim;
            float * ks = k.data() + s.row0 * kv_dim;
            rope_neox(qs, s.n, s.pos0, hp_.n_head, hd, hp_.rope_dim, hp_.rope_base);
            rope_neox(ks, s.n, s.pos0, hp_.n_head_kv, hd, hp_.rope_dim, hp_.rope_base);
            s.state->kv.store(l, s.pos0, s.n, ks, v.data() + s.row0 * kv_dim);
            attention(s.state->kv, l, qs, s.n, s.pos0, hp_.n_head, hp_.n_head_kv, hd, ctx.mm.target(), ctx.mm.pool(),
                      att.data() + s.row0 * q_dim);
        }
        ctx.mm.matmul(w.wo, att.data(), n, o.data());
        for (int64_t i = 0; i < n * d; ++i) {
            x[i] += o[i];
        }

        ctx.experts.on_ffn_input(static_cast<int>(l), x.data(), n);
        rms_norm(x.data(), w.ffn_norm.data(), h.data(), n, d, hp_.rms_eps);
        moe_block(h.data(), n, segs[0].pos0, static_cast<int>(l), w.router, moe, ctx, o.data(), positions);
        for (int64_t i = 0; i < n * d; ++i) {
            x[i] += o[i];
        }
    }
    for (const segment & s : segs) {
        s.state->n_past = s.pos0 + s.n;
    }

    const int64_t rows = n - first_logit_row;
    rms_norm(x.data() + first_logit_row * d, output_norm_.data(), h.data(), rows, d, hp_.rms_eps);
    ctx.mm.matmul(output_, h.data(), rows, logits);
}

}  // namespace

std::unique_ptr<model> build_qwen3moe(const gguf_file & file) { return std::make_unique<qwen3moe>(file); }

}  // namespace sluice
