// Multi-head latent attention (DeepSeek-V2/V3) in its absorbed form. Each position's keys
// and values are compressed to one latent row, c = RMSNorm(W_kv_a h)[:kv_lora], beside a
// shared RoPE key k_pe; the cache holds [c, k_pe] (kv_lora + rope floats per position), never
// the expanded per-head K/V. A head's query is [k_b^T q_nope, q_pe] so its dot with the
// cached row equals q_nope . k_nope + q_pe . k_pe; its output is v_b (softmax-weighted c).
#pragma once

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "model/weights.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct mla_geometry {
    int64_t n_embd    = 0;
    int64_t n_head    = 0;
    int64_t q_lora    = 0;  // 0: a plain attn_q (DeepSeek-V2-Lite)
    int64_t kv_lora   = 0;
    int64_t nope      = 0;  // per-head query/key dims without RoPE
    int64_t rope      = 0;  // per-head RoPE dims (shared key part)
    int64_t v_head    = 0;
    float   eps       = 1e-6f;
    double  rope_base = 10000.0;

    int64_t q_head() const { return nope + rope; }
    int64_t cache_row() const { return kv_lora + rope; }
};

struct mla_weights {
    weight_matrix              wq_a{};     // q_lora rows x d (q_lora > 0)
    std::vector<float>         q_a_norm;   // q_lora
    weight_matrix              wq{};       // n_head * (nope + rope) rows x (q_lora or d)
    weight_matrix              wkv_a{};    // kv_lora + rope rows x d
    std::vector<float>         kv_a_norm;  // kv_lora
    std::vector<weight_matrix> k_b;        // per head: kv_lora rows x nope cols
    std::vector<weight_matrix> v_b;        // per head: v_head rows x kv_lora cols
    weight_matrix              wo{};       // d rows x n_head * v_head
};

// Reads a block's attention tensors (attn_q_a, attn_q_a_norm, attn_q_b or attn_q,
// attn_kv_a_mqa, attn_kv_a_norm, attn_k_b, attn_v_b, attn_output), shapes checked against
// the architecture's table.
mla_weights load_mla_weights(const block_tensors & t, const mla_geometry & g);

// out = attention output (after attn_output) for h: [n][d] (the normed residual) at
// positions pos0..pos0+n-1. Stores the tokens' latent rows in `cache` (a keys-only cache of
// cache_row() floats) at `layer` first; positions [0, pos0) must be there.
void mla_attention(const mla_weights & w, const mla_geometry & g, const float * h, int64_t n, int64_t pos0,
                   kv_cache & cache, int64_t layer, matmul_runner & mm, float * out);

}  // namespace sluice
