#include "model/delta_net.h"

#include "model/layers.h"
#include "model/weights.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sluice {
namespace {

float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}
float softplus(float x) {
    return x > 20.0f ? x : std::log1p(std::exp(x));
}

// x /= max(||x||, eps), as ggml_l2_norm.
void l2_normalize(float * x, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        ss += static_cast<double>(x[i]) * x[i];
    }
    const float inv = 1.0f / std::max(static_cast<float>(std::sqrt(ss)), eps);
    for (int64_t i = 0; i < n; ++i) {
        x[i] *= inv;
    }
}

// The causal depthwise convolution + SiLU over n tokens of conv_dim channels, in place in
// x: [n][conv_dim]; the state holds the K-1 inputs before the first token, and afterwards
// the K-1 last ones.
void causal_conv(const delta_net_weights & w, const delta_net_geometry & g, float * x, int64_t n,
                 delta_net_state & st) {
    const int64_t      C = g.conv_dim(), K = g.conv_kernel;
    std::vector<float> in((K - 1 + n) * C);  // the state's inputs, then this batch's
    std::copy(st.conv.begin(), st.conv.end(), in.begin());
    std::copy(x, x + n * C, in.begin() + (K - 1) * C);
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t c = 0; c < C; ++c) {
            float acc = 0.0f;
            for (int64_t j = 0; j < K; ++j) {
                acc += in[(t + j) * C + c] * w.conv[c * K + j];
            }
            x[t * C + c] = acc / (1.0f + std::exp(-acc));
        }
    }
    std::copy(in.end() - (K - 1) * C, in.end(), st.conv.begin());
}

// One value head over n tokens, token by token: S = exp(log_decay) S; S += k (beta (v - S^T k))^T;
// o = S^T q. q, k: key head rows (normalised, q scaled); all rows `stride` apart.
void recurrent_head(float * S, int64_t dk, int64_t dv, int64_t n, const float * q, const float * k, const float * v,
                    int64_t qkv_stride, const float * log_decay, const float * beta, int64_t gate_stride, float * o,
                    int64_t o_stride) {
    std::vector<float> kv(dv);
    for (int64_t t = 0; t < n; ++t) {
        const float * qt = q + t * qkv_stride;
        const float * kt = k + t * qkv_stride;
        const float * vt = v + t * qkv_stride;
        const float   a  = std::exp(log_decay[t * gate_stride]);
        const float   b  = beta[t * gate_stride];
        std::fill(kv.begin(), kv.end(), 0.0f);
        for (int64_t i = 0; i < dk * dv; ++i) {
            S[i] *= a;
        }
        for (int64_t i = 0; i < dk; ++i) {
            const float * row = S + i * dv;
            for (int64_t j = 0; j < dv; ++j) {
                kv[j] += row[j] * kt[i];
            }
        }
        for (int64_t j = 0; j < dv; ++j) {
            kv[j] = (vt[j] - kv[j]) * b;  // the delta
        }
        float * ot = o + t * o_stride;
        std::fill(ot, ot + dv, 0.0f);
        for (int64_t i = 0; i < dk; ++i) {
            float * row = S + i * dv;
            for (int64_t j = 0; j < dv; ++j) {
                row[j] += kt[i] * kv[j];
                ot[j] += row[j] * qt[i];
            }
        }
    }
}

// The same recurrence over chunks of up to k_chunk tokens (the "chunked" form of the gated
// delta rule, as in the reference implementation): within a chunk the delta-rule updates
// are solved as one lower-triangular system, so the state is read and written once per
// chunk instead of once per token. Equal to recurrent_head up to float rounding.
constexpr int64_t k_chunk = 64;

void chunked_head(float * S, int64_t dk, int64_t dv, int64_t n, const float * q, const float * k, const float * v,
                  int64_t qkv_stride, const float * log_decay, const float * beta, int64_t gate_stride, float * o,
                  int64_t o_stride) {
    std::vector<float> G(k_chunk), A(k_chunk * k_chunk), U(k_chunk * dv), W(k_chunk * dk), vn(k_chunk * dv);
    for (int64_t c0 = 0; c0 < n; c0 += k_chunk) {
        const int64_t L   = std::min(k_chunk, n - c0);
        const auto    Q   = [&](int64_t i) { return q + (c0 + i) * qkv_stride; };
        const auto    K   = [&](int64_t i) { return k + (c0 + i) * qkv_stride; };
        const auto    V   = [&](int64_t i) { return v + (c0 + i) * qkv_stride; };
        const auto    B   = [&](int64_t i) { return beta[(c0 + i) * gate_stride]; };
        float         acc = 0.0f;
        for (int64_t i = 0; i < L; ++i) {  // cumulative log decay within the chunk
            acc += log_decay[(c0 + i) * gate_stride];
            G[i] = acc;
        }
        // A[i][j] = -beta_i (k_i . k_j) exp(G_i - G_j) for j < i, then (I - A)^-1 - I by
        // forward substitution, row by row; T = that + I.
        std::fill(A.begin(), A.end(), 0.0f);
        for (int64_t i = 0; i < L; ++i) {
            for (int64_t j = 0; j < i; ++j) {
                float dot = 0.0f;
                for (int64_t x = 0; x < dk; ++x) {
                    dot += K(i)[x] * K(j)[x];
                }
                A[i * k_chunk + j] = -B(i) * dot * std::exp(G[i] - G[j]);
            }
            for (int64_t j = 0; j < i; ++j) {
                float sum = A[i * k_chunk + j];
                for (int64_t m = j + 1; m < i; ++m) {
                    sum += A[i * k_chunk + m] * A[m * k_chunk + j];
                }
                A[i * k_chunk + j] = sum;
            }
        }
        // U = T (beta v), W = T (beta k exp(G)).
        for (int64_t i = 0; i < L; ++i) {
            for (int64_t x = 0; x < dv; ++x) {
                float sum = B(i) * V(i)[x];
                for (int64_t j = 0; j < i; ++j) {
                    sum += A[i * k_chunk + j] * B(j) * V(j)[x];
                }
                U[i * dv + x] = sum;
            }
            for (int64_t x = 0; x < dk; ++x) {
                float sum = B(i) * K(i)[x] * std::exp(G[i]);
                for (int64_t j = 0; j < i; ++j) {
                    sum += A[i * k_chunk + j] * B(j) * K(j)[x] * std::exp(G[j]);
                }
                W[i * dk + x] = sum;
            }
        }
        // v_new = U - W S; o_i = exp(G_i) q_i S + sum_{j<=i} (q_i . k_j) exp(G_i - G_j) v_new_j.
        for (int64_t i = 0; i < L; ++i) {
            float * vi = vn.data() + i * dv;
            std::copy_n(U.data() + i * dv, dv, vi);
            float * oi = o + (c0 + i) * o_stride;
            std::fill(oi, oi + dv, 0.0f);
            const float eg = std::exp(G[i]);
            for (int64_t x = 0; x < dk; ++x) {
                const float * row = S + x * dv;
                const float   w   = W[i * dk + x];
                const float   qx  = Q(i)[x] * eg;
                for (int64_t y = 0; y < dv; ++y) {
                    vi[y] -= w * row[y];
                    oi[y] += qx * row[y];
                }
            }
        }
        for (int64_t i = 0; i < L; ++i) {
            float * oi = o + (c0 + i) * o_stride;
            for (int64_t j = 0; j <= i; ++j) {
                float dot = 0.0f;
                for (int64_t x = 0; x < dk; ++x) {
                    dot += Q(i)[x] * K(j)[x];
                }
                const float a = dot * std::exp(G[i] - G[j]);
                for (int64_t y = 0; y < dv; ++y) {
                    oi[y] += a * vn[j * dv + y];
                }
            }
        }
        // S = exp(G_last) S + sum_j exp(G_last - G_j) k_j v_new_j^T.
        const float gl = G[L - 1];
        for (int64_t x = 0; x < dk * dv; ++x) {
            S[x] *= std::exp(gl);
        }
        for (int64_t j = 0; j < L; ++j) {
            const float e = std::exp(gl - G[j]);
            for (int64_t x = 0; x < dk; ++x) {
                const float kx  = K(j)[x] * e;
                float *     row = S + x * dv;
                for (int64_t y = 0; y < dv; ++y) {
                    row[y] += kx * vn[j * dv + y];
                }
            }
        }
    }
}

}  // namespace

void delta_net_state::clear() {
    std::fill(conv.begin(), conv.end(), 0.0f);
    std::fill(s.begin(), s.end(), 0.0f);
}

delta_net_weights load_delta_net_weights(const block_tensors & t, const delta_net_geometry & g) {
    delta_net_weights w;
    w.qkv     = t.matrix("attn_qkv");
    w.z       = t.matrix("attn_gate");
    w.ba      = t.matrix("ssm_ba");
    w.out     = t.matrix("ssm_out");
    w.dt_bias = t.vector("ssm_dt", "bias");
    w.a       = t.vector("ssm_a", "");
    w.norm    = t.vector("ssm_norm");
    // [conv_kernel, conv_dim]: one row of taps per channel, read as a matrix.
    const weight_matrix conv = t.matrix("ssm_conv1d");
    w.conv.resize(g.conv_dim() * g.conv_kernel);
    for (int64_t c = 0; c < g.conv_dim(); ++c) {
        dequantize_row(conv.type, conv.data + conv.row_stride * c, w.conv.data() + c * g.conv_kernel, g.conv_kernel);
    }
    return w;
}

void delta_net(const delta_net_weights & w, const delta_net_geometry & g, const float * h, int64_t n,
               delta_net_state & st, matmul_runner & mm, float * out) {
    const int64_t C = g.conv_dim(), V = g.value_dim(), nv = g.n_v_heads, dk = g.head_k, dv = g.head_v;
    const int64_t ratio = nv / g.n_k_heads;

    std::vector<float> x(n * C), z(n * V), ba(n * 2 * nv);
    if (n == 1) {  // one pass over the pool for the three projections
        const matvec_job jobs[3] = {{&w.qkv, h, x.data()}, {&w.z, h, z.data()}, {&w.ba, h, ba.data()}};
        mm.matvec_many(jobs);
    } else {
        mm.matmul(w.qkv, h, n, x.data());
        mm.matmul(w.z, h, n, z.data());
        mm.matmul(w.ba, h, n, ba.data());
    }
    causal_conv(w, g, x.data(), n, st);

    // Normalised q (scaled by 1/sqrt(dk)) and k per key head; log decay and beta per value head.
    const float        q_scale = 1.0f / std::sqrt(static_cast<float>(dk));
    std::vector<float> log_decay(n * nv), beta(n * nv);
    for (int64_t t = 0; t < n; ++t) {
        float * xt = x.data() + t * C;
        for (int64_t kh = 0; kh < g.n_k_heads; ++kh) {
            l2_normalize(xt + kh * dk, dk, g.eps);
            l2_normalize(xt + g.key_dim() + kh * dk, dk, g.eps);
            for (int64_t i = 0; i < dk; ++i) {
                xt[kh * dk + i] *= q_scale;
            }
            // ssm_ba rows come per key head: `ratio` betas, then `ratio` alphas.
            for (int64_t r = 0; r < ratio; ++r) {
                const int64_t vh       = kh * ratio + r;
                const float   b        = ba[t * 2 * nv + kh * 2 * ratio + r];
                const float   al       = ba[t * 2 * nv + kh * 2 * ratio + ratio + r];
                beta[t * nv + vh]      = sigmoid(b);
                log_decay[t * nv + vh] = w.a[vh] * softplus(al + w.dt_bias[vh]);  // log of the decay
            }
        }
    }

    std::vector<float> o(n * V);
    auto               one_head = [&](int64_t vh, int) {
        const int64_t kh   = vh / ratio;  // key heads repeat-interleaved over value heads
        const auto    head = n > 1 ? chunked_head : recurrent_head;
        head(st.s.data() + vh * dk * dv, dk, dv, n, x.data() + kh * dk, x.data() + g.key_dim() + kh * dk,
                           x.data() + 2 * g.key_dim() + vh * dv, C, log_decay.data() + vh, beta.data() + vh, nv, o.data() + vh * dv,
                           V);
    };
    if (mm.pool().size() == 1) {
        for (int64_t vh = 0; vh < nv; ++vh) {
            one_head(vh, 0);
        }
    } else {
        mm.pool().parallel_for(nv, one_head);
    }

    // Gated RMSNorm per value head: norm(o) * w * silu(z).
    rms_norm(o.data(), w.norm.data(), o.data(), n * nv, dv, g.eps);
    for (int64_t i = 0; i < n * V; ++i) {
        o[i] *= z[i] / (1.0f + std::exp(-z[i]));
    }
    mm.matmul(w.out, o.data(), n, out);
}

}  // namespace sluice
