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
    hp.n_ff_shared    = f.get_u32(key("expert_shared_feed_forward_length")).value_or(0);
    hp.sliding_window = f.get_u32(key("attention.sliding_window")).value_or(0);

    if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0) {
        fail("{}: {} attention heads cannot be shared by {} kv heads", f.path(), hp.n_head, hp.n_head_kv);
    }
    if (auto v = f.get_u32(key("attention.value_length")); v && *v != hp.head_dim) {
        fail("{}: value_length {} differs from key_length {} (unsupported)", f.path(), *v, hp.head_dim);
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
