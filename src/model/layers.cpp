#include "model/layers.h"

#include "util/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sluice {

void rms_norm(const float * x, const float * w, float * y, int64_t n, int64_t width, float eps) {
    for (int64_t t = 0; t < n; ++t) {
        const float * xr  = x + t * width;
        float *       yr  = y + t * width;
        double        ss  = 0.0;  // double: the mean square of a wide row loses digits in float
        for (int64_t i = 0; i < width; ++i) {
            ss += static_cast<double>(xr[i]) * xr[i];
        }
        const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(width) + eps));
        for (int64_t i = 0; i < width; ++i) {
            yr[i] = xr[i] * scale * w[i];
        }
    }
}

void rope_neox(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim,
               double base) {
    const int64_t       half = rope_dim / 2;
    std::vector<double> inv_freq(half);
    for (int64_t i = 0; i < half; ++i) {
        inv_freq[i] = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dim));
    }
    std::vector<float> cs(half), sn(half);
    for (int64_t t = 0; t < n; ++t) {
        const double pos = static_cast<double>(pos0 + t);
        for (int64_t i = 0; i < half; ++i) {
            const double angle = pos * inv_freq[i];
            cs[i]              = static_cast<float>(std::cos(angle));
            sn[i]              = static_cast<float>(std::sin(angle));
        }
        for (int64_t h = 0; h < n_heads; ++h) {
            float * v = x + (t * n_heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const float a = v[i], b = v[i + half];
                v[i]          = a * cs[i] - b * sn[i];
                v[i + half]   = a * sn[i] + b * cs[i];
            }
        }
    }
}

void rope_normal(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_stride, int64_t rope_dim,
                 double base) {
    const int64_t       half = rope_dim / 2;
    std::vector<double> inv_freq(half);
    for (int64_t i = 0; i < half; ++i) {
        inv_freq[i] = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dim));
    }
    std::vector<float> cs(half), sn(half);
    for (int64_t t = 0; t < n; ++t) {
        const double pos = static_cast<double>(pos0 + t);
        for (int64_t i = 0; i < half; ++i) {
            const double angle = pos * inv_freq[i];
            cs[i]              = static_cast<float>(std::cos(angle));
            sn[i]              = static_cast<float>(std::sin(angle));
        }
        for (int64_t h = 0; h < n_heads; ++h) {
            float * v = x + (t * n_heads + h) * head_stride;
            for (int64_t i = 0; i < half; ++i) {
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i]      = a * cs[i] - b * sn[i];
                v[2 * i + 1]  = a * sn[i] + b * cs[i];
            }
        }
    }
}

void attention(const kv_cache & kv, int64_t layer, const float * q, int64_t n, int64_t pos0, int64_t n_head,
               int64_t n_head_kv, int64_t head_dim, isa target, thread_pool & pool, float * out) {
    // Scores come from the matrix kernels: the keys of one kv head over positions 0..p are
    // a (p+1) x head_dim matrix whose rows are one cache row apart.
    const type_kernels & k       = *find_kernels(kv.type(), target);
    const uint64_t       stride  = kv.row_stride();
    const uint64_t       head_sz = static_cast<uint64_t>(head_dim) * kv.element_bytes();
    const int64_t        group   = n_head / n_head_kv;
    const float          scale   = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const int64_t        n_ctx   = pos0 + n;

    std::vector<std::vector<float>> scratch(pool.size());
    for (auto & s : scratch) {
        s.resize(static_cast<size_t>(n_ctx) + act_bytes(k.act, head_dim) / sizeof(float) + 1);
    }

    auto one_head = [&](int64_t task, int thread) {
        const int64_t t = task / n_head, h = task % n_head, g = h / group;
        const int64_t n_keys = pos0 + t + 1;
        float *       scores = scratch[thread].data();
        float *       act    = scores + n_ctx;
        k.quantize_act(q + (t * n_head + h) * head_dim, act, head_dim);
        const auto * keys = static_cast<const uint8_t *>(kv.key_row(layer, 0)) + g * head_sz;
        k.dot_rows(head_dim, keys, stride, n_keys, act, scores);

        float max_s = -INFINITY;
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] *= scale;
            max_s = std::max(max_s, scores[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] = std::exp(scores[j] - max_s);
            sum += scores[j];
        }
        const float inv_sum = 1.0f / sum;
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] *= inv_sum;
        }
        const auto * values = static_cast<const uint8_t *>(kv.value_row(layer, 0)) + g * head_sz;
        weighted_row_sum(kv.type(), values, stride, n_keys, scores, head_dim, out + (t * n_head + h) * head_dim, target);
    };
    const int64_t n_tasks = n * n_head;
    if (pool.size() == 1 || n_tasks == 1) {
        for (int64_t task = 0; task < n_tasks; ++task) {
            one_head(task, 0);
        }
    } else {
        pool.parallel_for(n_tasks, one_head);
    }
}

void swiglu(float * g, const float * u, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
}

}  // namespace sluice
