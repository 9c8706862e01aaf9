// Layers shared by the transformer architectures: RMSNorm, rotary embeddings (NeoX and
// normal pairing), causal grouped-query attention over the KV cache (optionally windowed,
// optionally with sinks), bias adds, SwiGLU and gpt-oss's clamped variant. Activations are
// row-major [n_tokens][width] F32 arrays.
#pragma once

#include "kernels/kernels.h"
#include "model/kv_cache.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

class thread_pool;

// y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, for n rows of `width` (y may alias x).
void rms_norm(const float * x, const float * w, float * y, int64_t n, int64_t width, float eps);

// NeoX-style rotary embedding on n rows of `n_heads` heads of `head_dim`: within each head
// the pairs (i, i + rope_dim/2) for i < rope_dim/2 rotate by pos * base^(-2i/rope_dim);
// row t has position pos0 + t. Dims past rope_dim are left alone.
void rope_neox(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base);

// Normal (GPT-J / Llama) rotary embedding: the adjacent pairs (2i, 2i + 1) for
// i < rope_dim/2 rotate by pos * base^(-2i/rope_dim); otherwise as rope_neox. Heads are
// head_dim floats apart, so a head whose rotated part is not in front (MLA's q_pe after
// q_nope) is rotated by passing a pointer to that part.
void rope_normal(float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim, double base);

enum class rope_style { NEOX, NORMAL };

// rope_neox or rope_normal.
void rope(rope_style style, float * x, int64_t n, int64_t pos0, int64_t n_heads, int64_t head_dim, int64_t rope_dim,
          double base);

// RoPE's angles for n positions from pos0: cos and sin of (pos0 + t) * base^(-2i/rope_dim)
// for i < rope_dim/2, [n][rope_dim/2] each. set() recomputes only when its arguments change,
// so q and k, and every layer of a forward pass, share one table (sin and cos in double are
// most of RoPE's cost).
class rope_table {
  public:
    void          set(int64_t pos0, int64_t n, int64_t rope_dim, double base);
    int64_t       n() const { return n_; }
    int64_t       rope_dim() const { return rope_dim_; }
    const float * cos(int64_t t) const { return cos_.data() + t * (rope_dim_ / 2); }
    const float * sin(int64_t t) const { return sin_.data() + t * (rope_dim_ / 2); }

  private:
    int64_t            pos0_ = -1, n_ = 0, rope_dim_ = 0;
    double             base_ = 0.0;
    std::vector<float> cos_, sin_;
};

// rope() over angles.n() rows of x at the table's positions.
void rope(rope_style style, float * x, int64_t n_heads, int64_t head_dim, const rope_table & angles);

// x[i] += o[i] for count values: a sub-block's output joins the residual stream.
void add_residual(float * x, const float * o, int64_t count);

// x[t][i] += b[i] for n rows of b.size(); nothing when b is empty (no bias).
void add_bias(float * x, std::span<const float> b, int64_t n);

// Variants of attention(); the defaults are plain causal attention over every previous key.
struct attention_options {
    int64_t       window = 0;        // > 0: a query at position p sees keys p - window + 1 .. p only
    const float * sinks  = nullptr;  // [n_head]: a logit per head that joins the softmax
                                     // denominator and contributes no value (gpt-oss)
};

// out[t][h] = sum_j softmax_j(q[t][h] . K[j][g] * scale) V[j][g] over j <= pos0 + t, with
// g = h / (n_head / n_head_kv): causal grouped-query attention. The keys and values of
// positions [0, pos0 + n) must already be in `kv`. q, out: [n][n_head * head_dim].
void attention(const kv_cache & kv, int64_t layer, const float * q, int64_t n, int64_t pos0, int64_t n_head,
               int64_t n_head_kv, int64_t head_dim, isa target, thread_pool & pool, float * out,
               const attention_options & opt = {});

// The exponentials of one softmax pass over n scores: s[j] = exp(s[j] * scale - m) with m the
// largest of `max` (on entry: a running or initial max, -INFINITY for none) and the scaled
// scores; `max` is set to m and the sum of the new s[j] returned: the latent attention's
// softmax (grouped-query attention's runs in attend_block).
float scaled_exp(float * s, int64_t n, float scale, float & max);

}  // namespace sluice
