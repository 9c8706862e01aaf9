#include "model/layers.h"

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

namespace {

// cos and sin of pos * base^(-2i/rope_dim) for i < rope_dim/2, one row per call.
class rope_angles {
  public:
    rope_angles(int64_t rope_dim, double base) : inv_freq_(rope_dim / 2), cs_(rope_dim / 2), sn_(rope_dim / 2) {
        for (size_t i = 0; i < inv_freq_.size(); ++i) {
            inv_freq_[i] = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dim));
        }
    }
    void at(double pos) {
        for (size_t i = 0; i < inv_freq_.size(); ++i) {
            const double angle = pos * inv_freq_[i];
            cs_[i]             = static_cast<float>(std::cos(angle));
            sn_[i]             = static_cast<float>(std::sin(angle));
        }
    }
    float cos(int64_t i) const { return cs_[i]; }
    float sin(int64_t i) const { return sn_[i]; }

  private:
    std::vector<double> inv_freq_;
    std::vector<float>  cs_, sn_;
};

// Rotates, within each head, the pairs (step * i, step * i + gap) for i < rope_dim / 2 by
// pos * base^(-2i / rope_dim): NeoX pairs a dim with the one rope_dim / 2 further (step 1,
// gap rope_dim / 2), the original layout adjacent dims (step 2, gap 1).
void rotate_pairs(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base,
                  int64_t step, int64_t gap) {
    const int64_t half = rope_dim / 2;
    rope_angles   a(rope_dim, base);
    for (int64_t t = 0; t < n; ++t) {
        a.at(static_cast<double>(pos0 + t));
        for (int64_t h = 0; h < n_heads; ++h) {
            float * v = x + (t * n_heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                float &     p0 = v[step * i];
                float &     p1 = v[step * i + gap];
                const float x0 = p0, x1 = p1;
                p0 = x0 * a.cos(i) - x1 * a.sin(i);
                p1 = x0 * a.sin(i) + x1 * a.cos(i);
            }
        }
    }
}

}  // namespace

void rope_neox(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base) {
    rotate_pairs(x, n, pos0, n_heads, head_dim, rope_dim, base, 1, rope_dim / 2);
}

void rope_normal(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base) {
    rotate_pairs(x, n, pos0, n_heads, head_dim, rope_dim, base, 2, 1);
}

void rope(rope_style style, float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim,
          double base) {
    if (style == rope_style::NORMAL) {
        rope_normal(x, n, pos0, n_heads, head_dim, rope_dim, base);
    } else {
        rope_neox(x, n, pos0, n_heads, head_dim, rope_dim, base);
    }
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
        const int64_t p      = pos0 + t;  // keys first..p are visible
        const int64_t first  = opt.window > 0 ? std::max<int64_t>(0, p - opt.window + 1) : 0;
        const int64_t n_keys = p + 1 - first;
        float *       scores = scratch[thread].data();
        float *       act    = scores + n_ctx;
        k.quantize_act(q + (t * n_head + h) * head_dim, act, head_dim);
        const auto * keys = static_cast<const uint8_t *>(kv.key_row(layer, first)) + g * head_sz;
        k.dot_rows(head_dim, keys, stride, n_keys, act, scores);

        float max_s = opt.sinks != nullptr ? opt.sinks[h] : -INFINITY;
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] *= scale;
            max_s = std::max(max_s, scores[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] = std::exp(scores[j] - max_s);
            sum += scores[j];
        }
        if (opt.sinks != nullptr) {
            sum += std::exp(opt.sinks[h] - max_s);
        }
        const float inv_sum = 1.0f / sum;
        for (int64_t j = 0; j < n_keys; ++j) {
            scores[j] *= inv_sum;
        }
        const auto * values = static_cast<const uint8_t *>(kv.value_row(layer, first)) + g * head_sz;
        weighted_row_sum(kv.type(), values, stride, n_keys, scores, head_dim, out + (t * n_head + h) * head_dim,
                         target);
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

void swiglu_clamped(float * g, const float * u, int64_t n, float alpha, float limit) {
    for (int64_t i = 0; i < n; ++i) {
        const float x = std::min(g[i], limit);
        const float y = std::clamp(u[i], -limit, limit);
        g[i]          = x / (1.0f + std::exp(-alpha * x)) * (y + 1.0f);
    }
}

}  // namespace sluice
