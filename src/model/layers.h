// Layers shared by the transformer architectures: RMSNorm, rotary embeddings, causal
// grouped-query attention over the KV cache, SwiGLU. Activations are row-major
// [n_tokens][width] F32 arrays.
#pragma once

#include "kernels/kernels.h"
#include "model/kv_cache.h"

#include <cstdint>

namespace sluice {

class thread_pool;

// y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, for n rows of `width` (y may alias x).
void rms_norm(const float * x, const float * w, float * y, int64_t n, int64_t width, float eps);

// NeoX-style rotary embedding on n rows of `n_heads` heads of `head_dim`: within each head
// the pairs (i, i + rope_dim/2) for i < rope_dim/2 rotate by pos * base^(-2i/rope_dim);
// row t has position pos0 + t. Dims past rope_dim are left alone.
void rope_neox(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim,
               double base);

// Normal (GPT-NeoX's "rotate every two", llama.cpp's LLAMA_ROPE_TYPE_NORM) rotary embedding:
// within each head the adjacent pairs (2i, 2i + 1) for i < rope_dim/2 rotate by
// pos * base^(-2i/rope_dim). Heads are `head_stride` floats apart (a partial rotation of a
// wider head passes a pointer to its rotated part); row t has position pos0 + t.
void rope_normal(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_stride, int64_t rope_dim,
                 double base);

// out[t][h] = sum_j softmax_j(q[t][h] . K[j][g] * scale) V[j][g] over j <= pos0 + t, with
// g = h / (n_head / n_head_kv): causal grouped-query attention. The keys and values of
// positions [0, pos0 + n) must already be in `kv`. q, out: [n][n_head * head_dim].
void attention(const kv_cache & kv, int64_t layer, const float * q, int64_t n, int64_t pos0, int64_t n_head,
               int64_t n_head_kv, int64_t head_dim, isa target, thread_pool & pool, float * out);

// g[i] = silu(g[i]) * u[i] for n values.
void swiglu(float * g, const float * u, int64_t n);

}  // namespace sluice
