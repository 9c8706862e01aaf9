// deepseek2: DeepSeek-V2, V2-Lite, V3 and R1 (and the files converted like them).
//
// Per block: RMSNorm -> multi-head latent attention (mla.h: the cache holds one compressed
// latent + RoPE key row per position) -> residual; RMSNorm -> FFN -> residual. The first
// leading_dense_block_count blocks have a dense SwiGLU FFN; the others route: scores
// sigmoid (V3) or softmax (V2) of the router logits, selection with the exp_probs_b bias
// restricted to the best expert groups, weights renormalised (expert_weights_norm) and
// scaled (expert_weights_scale); plus expert_shared_count always-on shared experts.
// Not implemented: YaRN RoPE scaling (long-context files), MTP layers.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

#include <algorithm>

namespace sluice {
namespace {

int64_t require_key(const gguf_file & f, const model_hparams & hp, int64_t value, const char * key) {
    if (value <= 0) {
        fail("{}: metadata '{}.{}' is missing", f.path(), hp.arch, key);
    }
    return value;
}

}  // namespace

std::unique_ptr<model> build_deepseek2(const gguf_file & f) {
    const model_hparams hp = read_moe_hparams(f, "deepseek2");
    const int64_t       d  = hp.n_embd;
    require_key(f, hp, hp.n_ff_expert, "expert_feed_forward_length");
    require_key(f, hp, hp.kv_lora_rank, "attention.kv_lora_rank");
    transformer_variant v;
    v.mla = mla_geometry{.n_embd    = d,
                         .n_head    = hp.n_head,
                         .q_lora    = hp.q_lora_rank,
                         .kv_lora   = hp.kv_lora_rank,
                         .nope      = hp.head_dim_mla - hp.rope_dim,
                         .rope      = hp.rope_dim,
                         .v_head    = hp.v_head_dim_mla,
                         .eps       = hp.rms_eps,
                         .rope_base = hp.rope_base};
    if (v.mla.nope <= 0 || v.mla.v_head <= 0) {
        fail("{}: MLA head of {} dims with {} RoPE dims and value head {} is not usable", f.path(), hp.head_dim_mla,
             hp.rope_dim, v.mla.v_head);
    }
    if (hp.n_layer_dense_lead > 0) {
        require_key(f, hp, hp.n_ff, "feed_forward_length");
    }
    v.routing.scoring       = hp.expert_gating_func == 2 ? router_scoring::SIGMOID : router_scoring::SOFTMAX;
    v.routing.n_group       = static_cast<int>(std::max<int64_t>(hp.n_expert_group, 1));
    v.routing.n_group_used  = static_cast<int>(std::max<int64_t>(hp.n_expert_group_used, 1));
    v.routing.normalize     = hp.expert_weights_norm;
    v.routing.scale         = hp.expert_weights_scale;
    const int64_t ff_shared = hp.n_ff_shared > 0 ? hp.n_ff_shared : hp.n_ff_expert * hp.n_expert_shared;

    auto m = std::make_unique<moe_transformer>(f, hp, v);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t(f, l);
        block_weights &     w = m->add_block();
        w.attn_norm           = t.vector("attn_norm", d);
        w.ffn_norm            = t.vector("ffn_norm", d);
        w.attn                = load_mla_weights(f, l, v.mla);
        if (l < hp.n_layer_dense_lead) {  // a dense SwiGLU FFN, no router
            w.shared.emplace(shared_expert{.gate = t.matrix("ffn_gate", d, hp.n_ff),
                                           .up   = t.matrix("ffn_up", d, hp.n_ff),
                                           .down = t.matrix("ffn_down", hp.n_ff, d)});
            continue;
        }
        w.router_matrix = t.matrix("ffn_gate_inp", d, hp.n_expert);
        if (f.find_tensor(t.name("exp_probs_b", "bias")) != nullptr) {
            w.selection_bias = t.vector("exp_probs_b", hp.n_expert, "bias");
        }
        if (ff_shared > 0) {  // always-on shared experts, unscaled
            w.shared.emplace(shared_expert{.gate = t.matrix("ffn_gate_shexp", d, ff_shared),
                                           .up   = t.matrix("ffn_up_shexp", d, ff_shared),
                                           .down = t.matrix("ffn_down_shexp", ff_shared, d)});
        }
        w.experts = t.experts();
    }
    m->finish();
    return m;
}

}  // namespace sluice
