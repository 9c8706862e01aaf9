#include "model/hparams.h"

#include "gguf/gguf.h"
#include "util/error.h"

namespace sluice {
namespace {

int64_t require_positive(const gguf_file & f, const std::string & key) {
    const uint32_t v = f.require_u32(key);
    if (v == 0) {
        fail("{}: metadata '{}' is 0", f.path(), key);
    }
    return v;
}

}  // namespace

model_hparams read_moe_hparams(const gguf_file & f, const std::string & arch) {
    model_hparams hp;
    hp.arch          = arch;
    const auto key   = [&](const char * k) { return arch + "." + k; };
    hp.n_layer       = require_positive(f, key("block_count"));
    hp.n_embd        = require_positive(f, key("embedding_length"));
    hp.n_head        = require_positive(f, key("attention.head_count"));
    hp.n_head_kv     = f.get_u32(key("attention.head_count_kv")).value_or(static_cast<uint32_t>(hp.n_head));
    hp.head_dim      = f.get_u32(key("attention.key_length")).value_or(static_cast<uint32_t>(hp.n_embd / hp.n_head));
    hp.n_ctx_train   = f.get_u32(key("context_length")).value_or(4096);
    hp.rope_base     = f.get_f64(key("rope.freq_base")).value_or(10000.0);
    hp.rope_dim      = f.get_u32(key("rope.dimension_count")).value_or(static_cast<uint32_t>(hp.head_dim));
    hp.rms_eps       = f.get_f32(key("attention.layer_norm_rms_epsilon")).value_or(1e-6f);
    hp.n_expert      = require_positive(f, key("expert_count"));
    hp.n_expert_used = require_positive(f, key("expert_used_count"));
    hp.n_ff_expert   = f.get_u32(key("expert_feed_forward_length")).value_or(0);
    hp.n_ff          = f.get_u32(key("feed_forward_length")).value_or(0);

    const auto u32_or_0     = [&](const char * k) -> int64_t { return f.get_u32(key(k)).value_or(0); };
    hp.n_expert_shared      = u32_or_0("expert_shared_count");
    hp.n_ff_shared          = u32_or_0("expert_shared_feed_forward_length");
    hp.n_layer_dense_lead   = u32_or_0("leading_dense_block_count");
    hp.expert_weights_scale = f.get_f32(key("expert_weights_scale")).value_or(0.0f);
    if (hp.expert_weights_scale == 0.0f) {
        hp.expert_weights_scale = 1.0f;
    }
    hp.expert_weights_norm = f.get_bool(key("expert_weights_norm")).value_or(false);
    hp.expert_gating_func  = static_cast<int>(u32_or_0("expert_gating_func"));
    hp.n_expert_group      = u32_or_0("expert_group_count");
    hp.n_expert_group_used = u32_or_0("expert_group_used_count");
    hp.q_lora_rank         = u32_or_0("attention.q_lora_rank");
    hp.kv_lora_rank        = u32_or_0("attention.kv_lora_rank");
    hp.head_dim_v          = f.get_u32(key("attention.value_length")).value_or(static_cast<uint32_t>(hp.head_dim));
    hp.head_dim_mla        = f.get_u32(key("attention.key_length_mla")).value_or(static_cast<uint32_t>(hp.head_dim));
    hp.v_head_dim_mla     = f.get_u32(key("attention.value_length_mla")).value_or(static_cast<uint32_t>(hp.head_dim_v));
    hp.ssm_conv_kernel    = u32_or_0("ssm.conv_kernel");
    hp.ssm_state_size     = u32_or_0("ssm.state_size");
    hp.ssm_group_count    = u32_or_0("ssm.group_count");
    hp.ssm_time_step_rank = u32_or_0("ssm.time_step_rank");
    hp.ssm_inner_size     = u32_or_0("ssm.inner_size");
    hp.full_attention_interval = u32_or_0("full_attention_interval");
    hp.sliding_window          = u32_or_0("attention.sliding_window");

    if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0) {
        fail("{}: {} attention heads cannot be shared by {} kv heads", f.path(), hp.n_head, hp.n_head_kv);
    }
    // MLA files describe the latent with key/value_length; elsewhere they must agree.
    if (hp.kv_lora_rank == 0 && hp.head_dim_v != hp.head_dim) {
        fail("{}: value_length {} differs from key_length {}, which only multi-head latent attention ('{}') allows",
             f.path(), hp.head_dim_v, hp.head_dim, key("attention.kv_lora_rank"));
    }
    if (hp.n_expert_group > 1 && (hp.n_expert_group > 64 || hp.n_expert % hp.n_expert_group != 0 ||
                                  hp.n_expert_group_used < 1 || hp.n_expert_group_used > hp.n_expert_group ||
                                  hp.n_expert_used > hp.n_expert_group_used * (hp.n_expert / hp.n_expert_group))) {
        fail("{}: {} experts in {} groups ({} used) cannot route {} experts per token", f.path(), hp.n_expert,
             hp.n_expert_group, hp.n_expert_group_used, hp.n_expert_used);
    }
    if (hp.head_dim <= 0 || hp.head_dim % 2 != 0 || hp.rope_dim > hp.head_dim || hp.rope_dim % 2 != 0) {
        fail("{}: head dimension {} with rope dimension {} is not usable", f.path(), hp.head_dim, hp.rope_dim);
    }
    if (hp.n_expert_used > hp.n_expert) {
        fail("{}: {} experts used per token but only {} exist", f.path(), hp.n_expert_used, hp.n_expert);
    }
    if (!(hp.rms_eps > 0.0f) || !(hp.rope_base > 0.0)) {
        fail("{}: rms epsilon {} / rope base {} must be positive", f.path(), hp.rms_eps, hp.rope_base);
    }
    return hp;
}

}  // namespace sluice
