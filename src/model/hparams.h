// Hyper-parameters of a MoE transformer, read from `<arch>.*` metadata as llama.cpp names
// them. One struct serves every architecture; fields an architecture does not use stay 0.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

class gguf_file;

struct model_hparams {
    std::string arch;
    int64_t     n_layer        = 0;
    int64_t     n_embd         = 0;  // d
    int64_t     n_head         = 0;
    int64_t     n_head_kv      = 0;
    int64_t     head_dim       = 0;  // key_length (== value_length for the archs so far)
    int64_t     n_vocab        = 0;
    int64_t     n_ctx_train    = 0;
    double      rope_base      = 10000.0;
    int64_t     rope_dim       = 0;  // rotated dims per head (rope.dimension_count, default head_dim)
    float       rms_eps        = 1e-6f;
    int64_t     n_expert       = 0;
    int64_t     n_expert_used  = 0;
    int64_t     n_ff_expert    = 0;
    int64_t     n_ff           = 0;  // dense FFN width (feed_forward_length; deepseek2's leading blocks)
    int64_t     sliding_window = 0;  // attention.sliding_window (gpt-oss), 0: none

    // Shared experts and routing variants (qwen2moe, deepseek2, qwen3next).
    int64_t n_expert_shared      = 0;     // expert_shared_count
    int64_t n_ff_shared          = 0;     // expert_shared_feed_forward_length, 0: absent (the arch's default)
    int64_t n_layer_dense_lead   = 0;     // leading_dense_block_count: blocks with a dense FFN
    float   expert_weights_scale = 1.0f;  // routed weights multiplied by this (0 in a file means 1)
    bool    expert_weights_norm  = false;
    int     expert_gating_func   = 0;  // 0: unset (softmax), 1: softmax, 2: sigmoid
    int64_t n_expert_group       = 0;  // expert_group_count (0/1: no groups)
    int64_t n_expert_group_used  = 0;

    // Multi-head latent attention (deepseek2): key_length/value_length describe the latent
    // (kv_lora + rope, kv_lora) in current files; the per-head sizes are the *_mla keys.
    int64_t q_lora_rank    = 0;  // 0: a plain attn_q (V2-Lite)
    int64_t kv_lora_rank   = 0;
    int64_t head_dim_mla   = 0;  // key_length_mla: qk_nope + qk_rope
    int64_t head_dim_v     = 0;  // value_length (== head_dim except for MLA)
    int64_t v_head_dim_mla = 0;  // value_length_mla

    // Gated DeltaNet (qwen3next): ssm.* keys.
    int64_t ssm_conv_kernel         = 0;
    int64_t ssm_state_size          = 0;  // key head dim
    int64_t ssm_group_count         = 0;  // key heads
    int64_t ssm_time_step_rank      = 0;  // value heads
    int64_t ssm_inner_size          = 0;  // value heads x value head dim
    int64_t full_attention_interval = 0;  // every n-th block (n-1, 2n-1, ...) is full attention
};

// Reads the keys every MoE transformer has (block_count, embedding_length, head counts,
// context_length, rope base, rms epsilon, expert counts) and the optional ones some have
// (expert widths, sliding window, shared experts, expert groups, MLA and DeltaNet sizes).
// Missing required keys or
// inconsistent values (heads not dividing, k > experts, ...) throw naming key and file.
model_hparams read_moe_hparams(const gguf_file & file, const std::string & arch);

}  // namespace sluice
