// Gated DeltaNet linear attention (Qwen3-Next's linear-attention layers). Per token: q/k/v
// from one projection through a short causal depthwise convolution + SiLU; q, k
// L2-normalised (key heads repeated over value heads); per value head a dk x dv state S
// decays by exp(A * softplus(alpha + dt_bias)) and takes the delta-rule update
// S += k (beta (v - S^T k))^T with beta = sigmoid(b); the output S^T q / sqrt(dk) goes
// through an RMSNorm gated by silu(z) and the output projection. The convolution's last
// inputs and S are the layer's per-sequence state (delta_net_state), like a KV cache.
#pragma once

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "model/weights.h"

#include <cstdint>
#include <vector>

namespace sluice {

struct delta_net_geometry {
    int64_t n_embd      = 0;
    int64_t n_k_heads   = 0;  // ssm.group_count
    int64_t n_v_heads   = 0;  // ssm.time_step_rank
    int64_t head_k      = 0;  // ssm.state_size
    int64_t head_v      = 0;  // ssm.inner_size / n_v_heads
    int64_t conv_kernel = 0;  // ssm.conv_kernel
    float   eps         = 1e-6f;

    int64_t key_dim() const { return n_k_heads * head_k; }
    int64_t value_dim() const { return n_v_heads * head_v; }
    int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }  // channels: q, k, v
};

struct delta_net_weights {
    weight_matrix      qkv{};    // conv_dim rows x d (attn_qkv)
    weight_matrix      z{};      // value_dim rows x d (attn_gate)
    weight_matrix      ba{};     // 2 * n_v_heads rows x d (ssm_ba: per key head, its beta then its alpha rows)
    weight_matrix      out{};    // d rows x value_dim (ssm_out)
    std::vector<float> conv;     // conv_dim x conv_kernel (ssm_conv1d; the last tap is the current token)
    std::vector<float> dt_bias;  // n_v_heads
    std::vector<float> a;        // n_v_heads, negative (-exp(A_log))
    std::vector<float> norm;     // head_v
};

// The per-sequence state of one layer. Zero is the state before the first token.
struct delta_net_state {
    std::vector<float> conv;  // (conv_kernel - 1) x conv_dim: the last inputs, oldest first
    std::vector<float> s;     // n_v_heads x head_k x head_v

    explicit delta_net_state(const delta_net_geometry & g)
        : conv((g.conv_kernel - 1) * g.conv_dim(), 0.0f), s(g.n_v_heads * g.head_k * g.head_v, 0.0f) {}
    void clear();
};

// Reads a block's DeltaNet tensors, shapes checked against the architecture's table.
delta_net_weights load_delta_net_weights(const block_tensors & t, const delta_net_geometry & g);

// out = the layer's output (after ssm_out) for h: [n][d] (the normed residual), advancing
// `st` over the n tokens. Prefill (n > 1) runs the chunked form, decode the recurrent one,
// value heads in parallel; both compute the same recurrence.
void delta_net(const delta_net_weights & w, const delta_net_geometry & g, const float * h, int64_t n,
               delta_net_state & st, matmul_runner & mm, float * out);

}  // namespace sluice
