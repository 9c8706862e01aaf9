#include "model/layers.h"

#include "util/error.h"
#include "util/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sluice {

void rms_norm(const float * x, const float * w, float * y, int64_t n, int64_t width, float eps) {
    for (int64_t t = 0; t < n; ++t) {
        const float * xr = x + t * width;
        float *       yr = y + t * width;
        double        ss = 0.0;  // double: the mean square of a wide row loses digits in float
        for (int64_t i = 0; i < width; ++i) {
            ss += static_cast<double>(xr[i]) * xr[i];
        }
        const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(width) + eps));
        for (int64_t i = 0; i < width; ++i) {
            yr[i] = xr[i] * scale * w[i];
        }
    }
}

void rope_table::set(int64_t pos0, int64_t n, int64_t rope_dim, double base) {
    if (pos0 == pos0_ && n == n_ && rope_dim == rope_dim_ && base == base_) {
        return;
    }
    const int64_t       half = rope_dim / 2;
    std::vector<double> inv_freq(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) {
        inv_freq[i] = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dim));
    }
    cos_.resize(static_cast<size_t>(n * half));
    sin_.resize(static_cast<size_t>(n * half));
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < half; ++i) {
            const double angle = static_cast<double>(pos0 + t) * inv_freq[i];
            cos_[t * half + i] = static_cast<float>(std::cos(angle));
            sin_[t * half + i] = static_cast<float>(std::sin(angle));
        }
    }
    pos0_ = pos0, n_ = n, rope_dim_ = rope_dim, base_ = base;
}

void rope(rope_style style, float * x, int64_t n_heads, int64_t head_dim, const rope_table & angles) {
    // Within each head the pairs (step * i, step * i + gap) for i < rope_dim / 2 rotate: NeoX
    // pairs a dim with the one rope_dim / 2 further (step 1, gap rope_dim / 2), the original
    // layout adjacent dims (step 2, gap 1).
    const int64_t half = angles.rope_dim() / 2;
    const int64_t step = style == rope_style::NORMAL ? 2 : 1, gap = style == rope_style::NORMAL ? 1 : half;
    for (int64_t t = 0; t < angles.n(); ++t) {
        const float * cs = angles.cos(t);
        const float * sn = angles.sin(t);
        for (int64_t h = 0; h < n_heads; ++h) {
            float * v = x + (t * n_heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                float &     p0 = v[step * i];
                float &     p1 = v[step * i + gap];
                const float x0 = p0, x1 = p1;
                p0 = x0 * cs[i] - x1 * sn[i];
                p1 = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

void rope_neox(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base) {
    rope(rope_style::NEOX, x, n, pos0, n_heads, head_dim, rope_dim, base);
}

void rope_normal(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base) {
    rope(rope_style::NORMAL, x, n, pos0, n_heads, head_dim, rope_dim, base);
}

void rope(rope_style style, float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim,
          double base) {
    rope_table angles;
    angles.set(pos0, n, rope_dim, base);
    rope(style, x, n_heads, head_dim, angles);
}

void add_residual(float * x, const float * o, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
        x[i] += o[i];
    }
}

void add_bias(float * x, std::span<const float> b, int64_t n) {
    const auto w = static_cast<int64_t>(b.size());
    for (int64_t t = 0; t < n && w > 0; ++t) {
        for (int64_t i = 0; i < w; ++i) {
            x[t * w + i] += b[i];
        }
    }
}

void attention(const kv_cache & kv, int64_t layer, const float * q, int64_t n, int64_t pos0, int64_t n_head,
               int64_t n_head_kv, int64_t head_dim, isa target, thread_pool & pool, float * out,
               const attention_options & opt) {
    // Tiled (flash-style) attention. Keys are visited in blocks of k_attention_block
    // positions aligned to position 0; a task takes a block of queries and some query heads
    // of one kv head, so each block of keys and values is read from memory once and then
    // stays in L1 while every query vector of the task uses it (attend_block: the scores of
    // several vectors share each key load, the softmax is online, the value sums share each
    // value row). What a query vector computes depends only on its own visible keys and the
    // fixed block boundaries, never on the tile it shares, so prefill, decode and batches of
    // sequences agree bit for bit.
    if (!kv.keys_in_lanes()) {
        fail("attention: the kv cache keeps keys as rows (a latent cache), not in lanes");
    }
    const uint64_t head_keys = static_cast<uint64_t>(head_dim) * k_key_lanes * kv.element_bytes();
    const uint64_t head_vals = static_cast<uint64_t>(head_dim) * kv.element_bytes();
    const int64_t  group     = n_head / n_head_kv;
    const float    scale     = 1.0f / std::sqrt(static_cast<float>(head_dim));

    // A task: q_block queries x kv head g x a slice of `heads` of its `group` query heads,
    // about 64 query vectors. Whole groups when that leaves a task per thread; one head per
    // task otherwise, so a few queries still spread over every thread.
    const int64_t q_block  = std::max<int64_t>(1, 64 / group);
    const int64_t n_qblock = (n + q_block - 1) / q_block;
    const int64_t heads    = n_qblock * n_head_kv >= pool.size() ? group : 1;
    const int64_t n_slices = group / heads;
    const int64_t n_vec    = std::min(q_block, n) * heads;  // query vectors per task, at most

    struct task_scratch {
        std::vector<float>   q, acc;  // [n_vec][head_dim]: the task's queries; running value sums
        std::vector<float>   m, l;    // [n_vec]: running max and denominator
        std::vector<int32_t> lo, hi;  // [n_vec]: visible positions of the current block
        std::vector<float>   block;   // attend_block's scratch
    };
    std::vector<task_scratch> scratch(pool.size());
    for (task_scratch & s : scratch) {
        s.q.resize(static_cast<size_t>(n_vec * head_dim));
        s.acc.resize(static_cast<size_t>(n_vec * head_dim));
        s.m.resize(static_cast<size_t>(n_vec));
        s.l.resize(static_cast<size_t>(n_vec));
        s.lo.resize(static_cast<size_t>(n_vec));
        s.hi.resize(static_cast<size_t>(n_vec));
        s.block.resize(static_cast<size_t>(attention_block_scratch(n_vec)));
    }

    auto one_task = [&](int64_t task, int thread) {
        const int64_t  qb = task / (n_head_kv * n_slices), g = task / n_slices % n_head_kv, sl = task % n_slices;
        const int64_t  t0 = qb * q_block, nt = std::min(q_block, n - t0);
        const int64_t  h0 = g * group + sl * heads;
        task_scratch & s  = scratch[thread];
        // Query vector v = (query t0 + v / heads, head h0 + v % heads); its keys first(v)..p(v).
        const int64_t nv       = nt * heads;
        auto          head_of  = [&](int64_t v) { return h0 + v % heads; };
        auto          last_of  = [&](int64_t v) { return pos0 + t0 + v / heads; };
        auto          first_of = [&](int64_t v) {
            return opt.window > 0 ? std::max<int64_t>(0, last_of(v) - opt.window + 1) : int64_t{0};
        };
        for (int64_t v = 0; v < nv; ++v) {
            const int64_t t = t0 + v / heads;
            std::copy_n(q + (t * n_head + head_of(v)) * head_dim, head_dim, s.q.data() + v * head_dim);
            // A sink is a key of logit sinks[h] and value 0: it starts the running max.
            s.m[v] = opt.sinks != nullptr ? opt.sinks[head_of(v)] : -INFINITY;
            s.l[v] = opt.sinks != nullptr ? 1.0f : 0.0f;
            std::fill_n(s.acc.data() + v * head_dim, head_dim, 0.0f);
        }
        attention_block_args a{.head_dim         = head_dim,
                               .n_q              = nv,
                               .q                = s.q.data(),
                               .key_group_stride = kv.key_group_stride(),
                               .value_stride     = kv.row_stride(),
                               .lo               = s.lo.data(),
                               .hi               = s.hi.data(),
                               .scale            = scale,
                               .m                = s.m.data(),
                               .l                = s.l.data(),
                               .acc              = s.acc.data(),
                               .scratch          = s.block.data()};
        const int64_t        b_first = first_of(0) / k_attention_block, b_last = last_of(nv - 1) / k_attention_block;
        for (int64_t b = b_first; b <= b_last; ++b) {
            const int64_t b0 = b * k_attention_block;
            for (int64_t v = 0; v < nv; ++v) {
                const int64_t j0 = std::max(b0, first_of(v)), j1 = std::min(b0 + k_attention_block, last_of(v) + 1);
                s.lo[v] = static_cast<int32_t>(j0 < j1 ? j0 - b0 : 0);
                s.hi[v] = static_cast<int32_t>(j0 < j1 ? j1 - b0 : 0);
            }
            a.keys   = static_cast<const uint8_t *>(kv.key_group(layer, b0 / k_key_lanes)) + g * head_keys;
            a.values = static_cast<const uint8_t *>(kv.value_row(layer, b0)) + g * head_vals;
            attend_block(kv.type(), target, a);
        }
        for (int64_t v = 0; v < nv; ++v) {
            const int64_t t       = t0 + v / heads;
            const float   inv_sum = 1.0f / s.l[v];
            const float * acc     = s.acc.data() + v * head_dim;
            float *       o       = out + (t * n_head + head_of(v)) * head_dim;
            for (int64_t i = 0; i < head_dim; ++i) {
                o[i] = acc[i] * inv_sum;
            }
        }
    };
    const int64_t n_tasks = n_qblock * n_head_kv * n_slices;
    if (pool.size() == 1 || n_tasks == 1) {
        for (int64_t task = 0; task < n_tasks; ++task) {
            one_task(task, 0);
        }
    } else {
        pool.parallel_for(n_tasks, one_task);
    }
}

float scaled_exp(float * s, int64_t n, float scale, float & max) {
    for (int64_t j = 0; j < n; ++j) {
        s[j] *= scale;
        max = std::max(max, s[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
        s[j] = std::exp(s[j] - max);
        sum += s[j];
    }
    return sum;
}
}  // namespace sluice
