#include "model/gqa.h"

#include <algorithm>
#include <cmath>

namespace sluice {

void gqa_attention(const gqa_weights & w, const gqa_shape & s, int64_t kv_layer, std::span<const segment> segs,
                   const float * h, int64_t n, matmul_runner & mm, float * out, forward_workspace * ws) {
    forward_workspace   local;
    forward_workspace & wk = ws != nullptr ? *ws : local;
    const int64_t       hd = s.head_dim, q_dim = s.q_dim(), kv_dim = s.kv_dim();
    const int64_t       q_rows = w.output_gate ? 2 * q_dim : q_dim;
    // With an output gate the projection (per head: the query, then its gate) lands in att
    // and is split into q and gate; att is free again before attention writes it.
    float * qp = grown(w.output_gate ? wk.att : wk.q, static_cast<size_t>(n * q_rows));
    float * k  = grown(wk.k, static_cast<size_t>(n * kv_dim));
    float * v  = grown(wk.v, static_cast<size_t>(n * kv_dim));
    if (n == 1) {  // one pass over the pool for all three
        const matvec_job qkv[3] = {{&w.wq, h, qp}, {&w.wk, h, k}, {&w.wv, h, v}};
        mm.matvec_many(qkv);
    } else {
        mm.matmul(w.wq, h, n, qp);
        mm.matmul(w.wk, h, n, k);
        mm.matmul(w.wv, h, n, v);
    }
    float * q    = grown(wk.q, static_cast<size_t>(n * q_dim));
    float * gate = w.output_gate ? grown(wk.gate, static_cast<size_t>(n * q_dim)) : nullptr;
    if (w.output_gate) {
        for (int64_t r = 0; r < n * s.n_head; ++r) {
            std::copy_n(qp + r * 2 * hd, hd, q + r * hd);
            std::copy_n(qp + r * 2 * hd + hd, hd, gate + r * hd);
        }
    }
    float * att = grown(wk.att, static_cast<size_t>(n * q_dim));
    add_bias(q, w.bq, n);
    add_bias(k, w.bk, n);
    add_bias(v, w.bv, n);
    if (!w.q_norm.empty()) {  // per head: n * heads rows of head_dim; full: n rows of the projection
        const int64_t qw = s.qk_norm_full ? q_dim : hd, kw = s.qk_norm_full ? kv_dim : hd;
        rms_norm(q, w.q_norm.data(), q, n * q_dim / qw, qw, s.eps);
        rms_norm(k, w.k_norm.data(), k, n * kv_dim / kw, kw, s.eps);
    }
    const attention_options ao{.window = w.window, .sinks = w.sinks.empty() ? nullptr : w.sinks.data()};
    for (const segment & sg : segs) {  // positions and the KV cache are per sequence
        float * qs = q + sg.row0 * q_dim;
        float * ks = k + sg.row0 * kv_dim;
        wk.rope.set(sg.pos0, sg.n, s.rope_dim, s.rope_base);
        rope(s.rope, qs, s.n_head, hd, wk.rope);
        rope(s.rope, ks, s.n_head_kv, hd, wk.rope);
        sg.state->kv.store(kv_layer, sg.pos0, sg.n, ks, v + sg.row0 * kv_dim, mm.target());
        attention(sg.state->kv, kv_layer, qs, sg.n, sg.pos0, s.n_head, s.n_head_kv, hd, mm.target(), mm.pool(),
                  att + sg.row0 * q_dim, ao);
    }
    if (w.output_gate) {
        for (int64_t i = 0; i < n * q_dim; ++i) {
            att[i] *= 1.0f / (1.0f + std::exp(-gate[i]));
        }
    }
    mm.matmul(w.wo, att, n, out);
    add_bias(out, w.bo, n);
}

}  // namespace sluice
