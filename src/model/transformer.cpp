#include "model/transformer.h"

#include "gguf/gguf.h"
#include "model/weights.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <limits>

namespace sluice {

void read_standard_block(const block_tensors & t, const model_hparams & hp, block_weights & w,
                         std::string_view ffn_norm) {
    const int64_t d = hp.n_embd, q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;
    w.attn_norm = t.vector("attn_norm", d);
    w.wq        = t.matrix("attn_q", d, q_dim);
    w.wk        = t.matrix("attn_k", d, kv_dim);
    w.wv        = t.matrix("attn_v", d, kv_dim);
    w.wo        = t.matrix("attn_output", q_dim, d);
    w.ffn_norm  = t.vector(ffn_norm, d);
    w.router    = t.matrix("ffn_gate_inp", d, hp.n_expert);
    w.experts   = t.experts();
}

moe_transformer::moe_transformer(const gguf_file & f, model_hparams hp, const transformer_variant & v)
    : file_(f), hp_(std::move(hp)), v_(v) {
    io_                  = token_io::load(f, hp_.n_embd);
    hp_.n_vocab          = io_.n_vocab;
    v_.moe.n_expert      = static_cast<int>(hp_.n_expert);
    v_.moe.n_expert_used = static_cast<int>(hp_.n_expert_used);
}

void moe_transformer::finish() {
    if (static_cast<int64_t>(layers_.size()) != hp_.n_layer) {
        fail("{}: {} blocks built for block_count {}", file_.path(), layers_.size(), hp_.n_layer);
    }
    std::vector<expert_layer_tensors> stacked;
    for (block_weights & w : layers_) {  // layers_ no longer grows: pointers into it stay valid
        stacked.push_back(w.experts);
        moe_options o    = v_.moe;
        o.router_bias    = w.router_bias.empty() ? nullptr : w.router_bias.data();
        o.gate_exps_bias = w.gate_exps_bias;
        o.up_exps_bias   = w.up_exps_bias;
        o.down_exps_bias = w.down_exps_bias;
        if (w.shared) {
            w.shared->gate_inp = w.shared_gate_inp.empty() ? nullptr : w.shared_gate_inp.data();
            o.shared           = &*w.shared;
        }
        moe_.push_back(o);
        gates_.push_back(
            moe_gate{.norm = w.ffn_norm.data(), .eps = hp_.rms_eps, .router = w.router, .router_bias = o.router_bias});
    }
    experts_.emplace(file_, std::move(stacked), hp_.n_embd, hp_.n_ff_expert, static_cast<int>(hp_.n_expert));
}

// out = W_o attention(rope(norm(W_q h + b_q)), rope(norm(W_k h + b_k)), W_v h + b_v) + b_o,
// storing this batch's keys and values in the cache first.
void moe_transformer::attend(const block_weights & w, int64_t l, std::span<const segment> segs, const float * h,
                             int64_t n, const forward_context & ctx, float * out) const {
    const int64_t      hd    = hp_.head_dim;
    const int64_t      q_dim = hp_.n_head * hd, kv_dim = hp_.n_head_kv * hd;
    std::vector<float> q(n * q_dim), k(n * kv_dim), v(n * kv_dim), att(n * q_dim);
    if (n == 1) {  // one pass over the pool for all three
        const matvec_job qkv[3] = {{&w.wq, h, q.data()}, {&w.wk, h, k.data()}, {&w.wv, h, v.data()}};
        ctx.mm.matvec_many(qkv);
    } else {
        ctx.mm.matmul(w.wq, h, n, q.data());
        ctx.mm.matmul(w.wk, h, n, k.data());
        ctx.mm.matmul(w.wv, h, n, v.data());
    }
    add_bias(q.data(), w.bq, n);
    add_bias(k.data(), w.bk, n);
    add_bias(v.data(), w.bv, n);
    if (!w.q_norm.empty()) {  // per head: n * heads rows of head_dim; full: n rows of the projection
        const int64_t qw = v_.qk_norm_full ? q_dim : hd, kw = v_.qk_norm_full ? kv_dim : hd;
        rms_norm(q.data(), w.q_norm.data(), q.data(), n * q_dim / qw, qw, hp_.rms_eps);
        rms_norm(k.data(), w.k_norm.data(), k.data(), n * kv_dim / kw, kw, hp_.rms_eps);
    }
    const attention_options ao{.window = w.window, .sinks = w.sinks.empty() ? nullptr : w.sinks.data()};
    for (const segment & s : segs) {  // positions and the KV cache are per sequence
        float * qs = q.data() + s.row0 * q_dim;
        float * ks = k.data() + s.row0 * kv_dim;
        rope(v_.rope, qs, s.n, s.pos0, hp_.n_head, hd, hp_.rope_dim, hp_.rope_base);
        rope(v_.rope, ks, s.n, s.pos0, hp_.n_head_kv, hd, hp_.rope_dim, hp_.rope_base);
        s.state->kv.store(l, s.pos0, s.n, ks, v.data() + s.row0 * kv_dim);
        attention(s.state->kv, l, qs, s.n, s.pos0, hp_.n_head, hp_.n_head_kv, hd, ctx.mm.target(), ctx.mm.pool(),
                  att.data() + s.row0 * q_dim, ao);
    }
    ctx.mm.matmul(w.wo, att.data(), n, out);
    add_bias(out, w.bo, n);
}

void moe_transformer::forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                              float * logits, bool all_logits) const {
    const auto    n    = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = state.n_past;
    if (n == 0) {
        return;
    }
    check_tokens(tokens, pos0, state.n_ctx(), hp_.n_vocab);
    const segment one[1] = {{&state, 0, n, pos0}};
    run(one, tokens, nullptr, ctx, logits, all_logits ? 0 : n - 1);
}

void moe_transformer::forward_batch(std::span<model_state * const> states, std::span<const int32_t> tokens,
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
    check_tokens(tokens, 0, std::numeric_limits<int64_t>::max(), hp_.n_vocab);  // contexts: below
    std::vector<segment> segs;
    std::vector<int64_t> positions;
    for (int64_t i = 0; i < n; ++i) {  // every check before anything changes
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

void moe_transformer::run(std::span<const segment> segs, std::span<const int32_t> tokens, const int64_t * positions,
                          const forward_context & ctx, float * logits, int64_t first_logit_row) const {
    const auto         n = static_cast<int64_t>(tokens.size());
    const int64_t      d = hp_.n_embd;
    std::vector<float> x(n * d), h(n * d), o(n * d);
    io_.embed(tokens, x.data());

    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const block_weights & w = layers_[l];
        rms_norm(x.data(), w.attn_norm.data(), h.data(), n, d, hp_.rms_eps);
        attend(w, l, segs, h.data(), n, ctx, o.data());
        add_residual(x.data(), o.data(), n * d);

        ctx.experts.on_ffn_input(static_cast<int>(l), x.data(), n);
        rms_norm(x.data(), w.ffn_norm.data(), h.data(), n, d, hp_.rms_eps);
        moe_block(h.data(), n, segs[0].pos0, static_cast<int>(l), w.router, moe_[l], ctx, o.data(), positions);
        add_residual(x.data(), o.data(), n * d);
    }
    for (const segment & s : segs) {
        s.state->n_past = s.pos0 + s.n;
    }
    io_.logits(x.data(), n, first_logit_row == 0, hp_.rms_eps, h.data(), ctx.mm, logits);
}

}  // namespace sluice
