#include "model/transformer.h"

#include "gguf/gguf.h"
#include "model/weights.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <algorithm>
#include <limits>

namespace sluice {

void read_standard_block(const block_tensors & t, block_weights & w, std::string_view ffn_norm) {
    w.attn_norm     = t.vector("attn_norm");
    gqa_weights a   = {};
    a.wq            = t.matrix("attn_q");
    a.wk            = t.matrix("attn_k");
    a.wv            = t.matrix("attn_v");
    a.wo            = t.matrix("attn_output");
    w.attn          = std::move(a);
    w.ffn_norm      = t.vector(ffn_norm);
    w.router_matrix = t.matrix("ffn_gate_inp");
    w.experts       = t.experts();
}

moe_transformer::moe_transformer(const gguf_file & f, model_hparams hp, const transformer_variant & v,
                                 std::span<const tensor_spec> table)
    : file_(f), hp_(std::move(hp)), v_(v), table_(table) {
    io_         = token_io::load(f, hp_.n_embd);
    hp_.n_vocab = io_.n_vocab;
    gqa_        = gqa_shape{.n_head       = hp_.n_head,
                            .n_head_kv    = hp_.n_head_kv,
                            .head_dim     = hp_.head_dim,
                            .rope_dim     = hp_.rope_dim,
                            .rope_base    = hp_.rope_base,
                            .eps          = hp_.rms_eps,
                            .rope         = v_.rope,
                            .qk_norm_full = v_.qk_norm_full};
}

void moe_transformer::finish() {
    if (static_cast<int64_t>(layers_.size()) != hp_.n_layer) {
        fail("{}: {} blocks built for block_count {}", file_.path(), layers_.size(), hp_.n_layer);
    }
    std::vector<expert_layer_tensors> stacked;
    for (block_weights & w : layers_) {  // layers_ no longer grows: pointers into it stay valid
        // Attention blocks number their KV-cache layers among themselves, DeltaNet blocks
        // their recurrent states; one model's cached blocks share one row geometry.
        const bool recurrent = std::holds_alternative<delta_net_weights>(w.attn);
        state_index_.push_back(recurrent ? n_recurrent_++ : n_kv_layers_++);
        latent_ = latent_ || std::holds_alternative<mla_weights>(w.attn);
        if (latent_ && std::holds_alternative<gqa_weights>(w.attn)) {
            fail("{}: latent and full attention blocks in one model are not supported", file_.path());
        }
        stacked.push_back(w.experts);
        moe_options o    = v_.moe;
        o.gate_exps_bias = w.gate_exps_bias;
        o.up_exps_bias   = w.up_exps_bias;
        o.down_exps_bias = w.down_exps_bias;
        if (w.shared && w.router_matrix.data != nullptr) {
            w.shared->gate_inp = w.shared_gate_inp.empty() ? nullptr : w.shared_gate_inp.data();
            o.shared           = &*w.shared;
        }
        moe_.push_back(o);
        router r         = v_.routing;
        r.norm           = w.ffn_norm.data();
        r.eps            = hp_.rms_eps;
        r.weight         = w.router_matrix;
        r.logit_bias     = w.router_bias.empty() ? nullptr : w.router_bias.data();
        r.selection_bias = w.selection_bias.empty() ? nullptr : w.selection_bias.data();
        r.n_expert       = static_cast<int>(hp_.n_expert);
        r.k              = static_cast<int>(hp_.n_expert_used);
        routers_.push_back(r);
        if (!r.routed() && !w.shared) {
            fail("{}: block {} has neither a router nor a dense FFN", file_.path(), routers_.size() - 1);
        }
    }
    experts_.emplace(file_, std::move(stacked), hp_.n_embd, hp_.n_ff_expert, static_cast<int>(hp_.n_expert));
}

std::unique_ptr<model_state> moe_transformer::new_state(int64_t n_ctx, ggml_type kv_type) const {
    // MLA caches one latent row (kv_lora + rope) per position, keys only.
    const int64_t row = latent_ ? v_.mla.cache_row() : gqa_.kv_dim();
    return std::make_unique<model_state>(n_kv_layers_, n_ctx, row, kv_type, !latent_, n_recurrent_, v_.delta);
}

void moe_transformer::attend(int64_t l, std::span<const segment> segs, const float * h, int64_t n,
                             const forward_context & ctx, float * out) const {
    const block_weights & w   = layers_[l];
    const int64_t         idx = state_index_[l], d = hp_.n_embd;
    if (const auto * a = std::get_if<gqa_weights>(&w.attn)) {
        gqa_attention(*a, gqa_, idx, segs, h, n, ctx.mm, out, ctx.work);
    } else if (const auto * m = std::get_if<mla_weights>(&w.attn)) {
        for (const segment & s : segs) {  // the latent cache is per sequence
            mla_attention(*m, v_.mla, h + s.row0 * d, s.n, s.pos0, s.state->kv, idx, ctx.mm, out + s.row0 * d);
        }
    } else {
        const auto & dn = std::get<delta_net_weights>(w.attn);
        for (const segment & s : segs) {  // the recurrent state is per sequence
            delta_net(dn, v_.delta, h + s.row0 * d, s.n, s.state->rec[idx], ctx.mm, out + s.row0 * d);
        }
    }
}

void moe_transformer::feed_forward(int64_t l, const float * h, int64_t n, std::span<const int64_t> positions,
                                   const forward_context & ctx, float * out) const {
    if (routers_[l].routed()) {
        moe_block(h, n, static_cast<int>(l), routers_[l], moe_[l], ctx, out, positions);
    } else {  // a dense block (DeepSeek's leading ones): its FFN is a gate-less "shared expert"
        std::fill(out, out + n * hp_.n_embd, 0.0f);
        add_shared_expert(h, n, *layers_[l].shared, ctx.mm, out);
    }
}

void moe_transformer::forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                              float * logits, bool all_logits) const {
    const auto    n    = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = state.n_past;
    if (n == 0) {
        return;
    }
    check_tokens(tokens, pos0, state.n_ctx(), hp_.n_vocab);
    const segment        one[1] = {{&state, 0, n, pos0}};
    std::vector<int64_t> positions(n);
    for (int64_t t = 0; t < n; ++t) {
        positions[t] = pos0 + t;
    }
    run(one, tokens, positions, ctx, logits, all_logits);
}

void moe_transformer::forward_batch(std::span<const sequence_feed> seqs, const forward_context & ctx,
                                    float * logits) const {
    if (seqs.empty()) {
        return;
    }
    if (seqs.size() == 1) {  // the single-sequence path is the reference; nothing to share
        forward(*seqs[0].state, seqs[0].tokens, ctx, logits, false);
        return;
    }
    std::vector<segment> segs;
    std::vector<int64_t> positions;
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < seqs.size(); ++i) {  // every check before anything changes
        model_state * st = seqs[i].state;
        const auto    m  = static_cast<int64_t>(seqs[i].tokens.size());
        if (m == 0) {
            fail("forward_batch: sequence {} has no tokens", i);
        }
        if (st->n_past + m > st->n_ctx()) {
            fail("context full: sequence {} has {} positions cached + {} new tokens in a context of {}", i, st->n_past,
                 m, st->n_ctx());
        }
        check_tokens(seqs[i].tokens, 0, std::numeric_limits<int64_t>::max(), hp_.n_vocab);
        for (size_t j = 0; j < i; ++j) {
            if (seqs[j].state == st) {
                fail("forward_batch: sequence {} appears twice in one step", i);
            }
        }
        segs.push_back({st, static_cast<int64_t>(tokens.size()), m, st->n_past});
        for (int64_t t = 0; t < m; ++t) {
            positions.push_back(st->n_past + t);
        }
        tokens.insert(tokens.end(), seqs[i].tokens.begin(), seqs[i].tokens.end());
    }
    run(segs, tokens, positions, ctx, logits, false);
}

void moe_transformer::run(std::span<const segment> segs, std::span<const int32_t> tokens,
                          std::span<const int64_t> positions, const forward_context & ctx, float * logits,
                          bool all_logits) const {
    const auto          n = static_cast<int64_t>(tokens.size());
    const int64_t       d = hp_.n_embd;
    forward_workspace   local;
    forward_workspace & ws = ctx.work != nullptr ? *ctx.work : local;
    // The residual stream, the normed rows, a block's output: [n][d] each, every row written
    // before it is read.
    const std::span<float> x(grown(ws.stream, n * d), n * d), h(grown(ws.normed, n * d), n * d),
        o(grown(ws.block_out, n * d), n * d);
    // Row-wise steps on the pool: every row's arithmetic is its own, so the split changes no bit.
    thread_pool & pool = ctx.mm.pool();
    const auto    norm = [&](const std::vector<float> & w) {
        parallel_ranges(pool, n, 16, [&](int64_t a, int64_t b) {
            rms_norm(x.data() + a * d, w.data(), h.data() + a * d, b - a, d, hp_.rms_eps);
        });
    };
    const auto add_out = [&] {
        parallel_ranges(pool, n, 32,
                        [&](int64_t a, int64_t b) { add_residual(x.data() + a * d, o.data() + a * d, (b - a) * d); });
    };
    for (const segment & s : segs) {
        if (s.pos0 == 0) {  // a new sequence (or session::reset): recurrent states start at zero
            s.state->start_sequence();
        }
    }
    io_.embed(tokens, x.data());

    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const block_weights & w = layers_[l];
        norm(w.attn_norm);
        attend(l, segs, h.data(), n, ctx, o.data());
        add_out();

        ctx.experts.on_ffn_input(static_cast<int>(l), x.data(), positions);
        if (ctx.observer != nullptr) {
            ctx.observer->on_ffn_input(static_cast<int>(l), x.data(), positions);
        }
        norm(w.ffn_norm);
        feed_forward(l, h.data(), n, positions, ctx, o.data());
        add_out();
    }
    for (const segment & s : segs) {
        s.state->n_past = s.pos0 + s.n;
    }
    if (all_logits) {
        io_.logits(x.data(), n, hp_.rms_eps, h.data(), ctx.mm, logits);
        return;
    }
    // The last row of each segment, gathered: [segs][d] (the output head reads only those).
    for (size_t i = 0; i < segs.size(); ++i) {
        const float * last = x.data() + (segs[i].row0 + segs[i].n - 1) * d;
        std::copy(last, last + d, o.data() + static_cast<int64_t>(i) * d);
    }
    io_.logits(o.data(), static_cast<int64_t>(segs.size()), hp_.rms_eps, h.data(), ctx.mm, logits);
}

}  // namespace sluice
