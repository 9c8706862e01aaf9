#include "model/mla.h"

#include "model/layers.h"
#include "model/weights.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sluice {
namespace {

// The per-head matrices of a [cols, rows, n_head] tensor (shape and type already checked).
std::vector<weight_matrix> per_head(const gguf_tensor & t, int64_t n_head) {
    std::vector<weight_matrix> m;
    const uint64_t             per = t.nbytes / static_cast<uint64_t>(n_head);
    for (int64_t h = 0; h < n_head; ++h) {
        m.push_back(weight_matrix{t.type, t.ne[1], t.ne[0], t.row_bytes(), t.data + per * static_cast<uint64_t>(h)});
    }
    return m;
}

// y[t] (rows of `ys` floats, at column offset) = W_h x[t][h] for every head: the per-head
// products, gathered so each head's tokens are one contiguous matrix.
void per_head_matmul(const std::vector<weight_matrix> & w, const float * x, int64_t x_stride, int64_t x_head, int64_t n,
                     float * y, int64_t y_stride, int64_t y_head, matmul_runner & mm) {
    const auto    n_head = static_cast<int64_t>(w.size());
    const int64_t cols = w[0].cols, rows = w[0].rows;
    if (n == 1) {  // decode: every head's product in one pass over the pool
        std::vector<float>      tmp(n_head * rows);
        std::vector<matvec_job> jobs;
        for (int64_t h = 0; h < n_head; ++h) {
            jobs.push_back({&w[h], x + h * x_head, tmp.data() + h * rows});
        }
        mm.matvec_many(jobs);
        for (int64_t h = 0; h < n_head; ++h) {
            std::copy_n(tmp.data() + h * rows, rows, y + h * y_head);
        }
        return;
    }
    std::vector<float> xs(n * cols), ys(n * rows);
    for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t t = 0; t < n; ++t) {
            std::copy_n(x + t * x_stride + h * x_head, cols, xs.data() + t * cols);
        }
        mm.matmul(w[h], xs.data(), n, ys.data());
        for (int64_t t = 0; t < n; ++t) {
            std::copy_n(ys.data() + t * rows, rows, y + t * y_stride + h * y_head);
        }
    }
}

// out[t][h] = sum_j softmax_j(q[t][h] . row_j * scale) row_j[:kv_lora] over j <= pos0 + t,
// every head reading the same cached latent rows. q: [n][n_head][cache_row].
void latent_attention(const kv_cache & cache, int64_t layer, const float * q, int64_t n, int64_t pos0,
                      const mla_geometry & g, matmul_runner & mm, float * out) {
    const type_kernels & k      = *find_kernels(cache.type(), mm.target());
    const uint64_t       stride = cache.row_stride();
    const int64_t        width  = g.cache_row();
    // The softmax scale of the uncompressed head (nope + rope), as the model was trained.
    const float   scale = 1.0f / std::sqrt(static_cast<float>(g.q_head()));
    const int64_t n_ctx = pos0 + n;
    thread_pool & pool  = mm.pool();

    std::vector<std::vector<float>> scratch(pool.size());
    for (auto & s : scratch) {
        s.resize(static_cast<size_t>(n_ctx) + act_bytes(k.act, width) / sizeof(float) + 1);
    }
    const auto * rows     = static_cast<const uint8_t *>(cache.key_row(layer, 0));
    auto         one_head = [&](int64_t task, int thread) {
        const int64_t t = task / g.n_head, h = task % g.n_head;
        const int64_t n_keys = pos0 + t + 1;
        float *       scores = scratch[thread].data();
        float *       act    = scores + n_ctx;
        k.quantize_act(q + (t * g.n_head + h) * width, act, width);
        k.dot_rows(width, rows, stride, n_keys, act, scores);
        float       max_s   = -INFINITY;
        const float inv_sum = 1.0f / scaled_exp(scores, n_keys, scale, max_s);
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] *= inv_sum;
        }
        weighted_row_sum(cache.type(), rows, stride, n_keys, scores, g.kv_lora, out + (t * g.n_head + h) * g.kv_lora,
                                 mm.target());
    };
    const int64_t n_tasks = n * g.n_head;
    if (pool.size() == 1 || n_tasks == 1) {
        for (int64_t task = 0; task < n_tasks; ++task) {
            one_head(task, 0);
        }
    } else {
        pool.parallel_for(n_tasks, one_head);
    }
}

}  // namespace

mla_weights load_mla_weights(const block_tensors & t, const mla_geometry & g) {
    mla_weights w;
    if (g.q_lora > 0) {
        w.wq_a     = t.matrix("attn_q_a");
        w.q_a_norm = t.vector("attn_q_a_norm");
        w.wq       = t.matrix("attn_q_b");
    } else {
        w.wq = t.matrix("attn_q");
    }
    w.wkv_a     = t.matrix("attn_kv_a_mqa");
    w.kv_a_norm = t.vector("attn_kv_a_norm");
    w.k_b       = per_head(t.tensor("attn_k_b"), g.n_head);
    w.v_b       = per_head(t.tensor("attn_v_b"), g.n_head);
    w.wo        = t.matrix("attn_output");
    return w;
}

void mla_attention(const mla_weights & w, const mla_geometry & g, const float * h, int64_t n, int64_t pos0,
                   kv_cache & cache, int64_t layer, matmul_runner & mm, float * out) {
    const int64_t qh = g.q_head(), row = g.cache_row(), H = g.n_head;

    std::vector<float> q(n * H * qh), kv(n * row);
    if (g.q_lora > 0) {
        std::vector<float> qa(n * g.q_lora);
        mm.matmul(w.wq_a, h, n, qa.data());
        rms_norm(qa.data(), w.q_a_norm.data(), qa.data(), n, g.q_lora, g.eps);
        mm.matmul(w.wq, qa.data(), n, q.data());
    } else {
        mm.matmul(w.wq, h, n, q.data());
    }
    mm.matmul(w.wkv_a, h, n, kv.data());
    for (int64_t t = 0; t < n; ++t) {  // norm the latent part of each row only
        rms_norm(kv.data() + t * row, w.kv_a_norm.data(), kv.data() + t * row, 1, g.kv_lora, g.eps);
    }
    rope_normal(q.data() + g.nope, n, pos0, H, qh, g.rope, g.rope_base);
    rope_normal(kv.data() + g.kv_lora, n, pos0, 1, row, g.rope, g.rope_base);
    cache.store(layer, pos0, n, kv.data(), nullptr, mm.target());

    // Absorbed queries: [k_b q_nope, q_pe] per head, cache_row() floats each.
    std::vector<float> qa(n * H * row);
    per_head_matmul(w.k_b, q.data(), H * qh, qh, n, qa.data(), H * row, row, mm);
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t hd = 0; hd < H; ++hd) {
            std::copy_n(q.data() + (t * H + hd) * qh + g.nope, g.rope, qa.data() + (t * H + hd) * row + g.kv_lora);
        }
    }
    std::vector<float> lat(n * H * g.kv_lora), att(n * H * g.v_head);
    latent_attention(cache, layer, qa.data(), n, pos0, g, mm, lat.data());
    per_head_matmul(w.v_b, lat.data(), H * g.kv_lora, g.kv_lora, n, att.data(), H * g.v_head, g.v_head, mm);
    mm.matmul(w.wo, att.data(), n, out);
}

}  // namespace sluice
