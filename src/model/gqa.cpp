#include "model/gqa.h"

#include <algorithm>
#include <cmath>

namespace sluice {

void gqa_attention(const gqa_weights & w, const gqa_shape & s, int64_t kv_layer, std::span<const segment> segs,
                   const float * h, int64_t n, matmul_runner & mm, float * out) {
    const int64_t      hd = s.head_dim, q_dim = s.q_dim(), kv_dim = s.kv_dim();
    const int64_t      q_rows = w.output_gate ? 2 * q_dim : q_dim;
    std::vector<float> qp(n * q_rows), k(n * kv_dim), v(n * kv_dim), att(n * q_dim);
    if (n == 1) {  // one pass over the pool for all three
        const matvec_job qkv[3] = {{&w.wq, h, qp.data()}, {&w.wk, h, k.data()}, {&w.wv, h, v.data()}};
        mm.matvec_many(qkv);
    } else {
        mm.matmul(w.wq, h, n, qp.data());
        mm.matmul(w.wk, h, n, k.data());
        mm.matmul(w.wv, h, n, v.data());
    }
    std::vector<float> gate;
    if (w.output_gate) {  // per head: the query, then its output gate
        std::vector<float> q(n * q_dim);
        gate.resize(n * q_dim);
        for (int64_t r = 0; r < n * s.n_head; ++r) {
            std::copy_n(qp.data() + r * 2 * hd, hd, q.data() + r * hd);
            std::copy_n(qp.data() + r * 2 * hd + hd, hd, gate.data() + r * hd);
        }
        qp.swap(q);
    }
    float * q = qp.data();
    add_bias(q, w.bq, n);
    add_bias(k.data(), w.bk, n);
    add_bias(v.data(), w.bv, n);
    if (!w.q_norm.empty()) {  // per head: n * heads rows of head_dim; full: n rows of the projection
        const int64_t qw = s.qk_norm_full ? q_dim : hd, kw = s.qk_norm_full ? kv_dim : hd;
        rms_norm(q, w.q_norm.data(), q, n * q_dim / qw, qw, s.eps);
        rms_norm(k.data(), w.k_norm.data(), k.data(), n * kv_dim / kw, kw, s.eps);
    }
    const attention_options ao{.window = w.window, .sinks = w.sinks.empty() ? nullptr : w.sinks.data()};
    for (const segment & sg : segs) {  // positions and the KV cache are per sequence
        float * qs = q + sg.row0 * q_dim;
        float * ks = k.data() + sg.row0 * kv_dim;
        rope(s.rope, qs, sg.n, sg.pos0, s.n_head, hd, s.rope_dim, s.rope_base);
        rope(s.rope, ks, sg.n, sg.pos0, s.n_head_kv, hd, s.rope_dim, s.rope_base);
        sg.state->kv.store(kv_layer, sg.pos0, sg.n, ks, v.data() + sg.row0 * kv_dim);
        attention(sg.state->kv, kv_layer, qs, sg.n, sg.pos0, s.n_head, s.n_head_kv, hd, mm.target(), mm.pool(),
                  att.data() + sg.row0 * q_dim, ao);
    }
    if (w.output_gate) {
        for (int64_t i = 0; i < n * q_dim; ++i) {
            att[i] *= 1.0f / (1.0f + std::exp(-gate[i]));
        }
    }
    mm.matmul(w.wo, att.data(), n, out);
    add_bias(out, w.bo, n);
}

}  // namespace sluice
