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

std::span<const tensor_spec> deepseek2_tensors() {
    using enum dim;
    constexpr tensor_role    A = tensor_role::ATTENTION, D = tensor_role::DENSE_FFN;
    constexpr block_set      moe = block_set::MOE, dense = block_set::DENSE_LEAD;
    std::vector<tensor_spec> t       = decoder_ends();
    const tensor_spec        block[] = {
               {.name = "attn_norm", .shape = {EMBD}, .role = tensor_role::NORM, .init = 1},
               // Multi-head latent attention (mla.h); a compressed query or a plain one.
               {.name = "attn_q_a", .shape = {EMBD, Q_LORA}, .role = A, .where = block_set::Q_LORA},
               {.name = "attn_q_a_norm", .shape = {Q_LORA}, .role = tensor_role::NORM, .where = block_set::Q_LORA, .init = 1},
               {.name = "attn_q_b", .shape = {Q_LORA, MLA_Q}, .role = A, .where = block_set::Q_LORA},
               {.name = "attn_q", .shape = {EMBD, MLA_Q}, .role = A, .where = block_set::NO_Q_LORA},
               {.name = "attn_kv_a_mqa", .shape = {EMBD, MLA_KV_A}, .role = A},
               {.name = "attn_kv_a_norm", .shape = {KV_LORA}, .role = tensor_role::NORM, .init = 1},
               {.name = "attn_k_b", .shape = {MLA_NOPE, KV_LORA, HEADS}, .role = A},
               {.name = "attn_v_b", .shape = {KV_LORA, MLA_V_HEAD, HEADS}, .role = A},
               {.name = "attn_output", .shape = {MLA_V, EMBD}, .role = A},
               {.name = "ffn_norm", .shape = {EMBD}, .role = tensor_role::NORM, .init = 1},
               // The leading dense blocks' FFN.
               {.name = "ffn_gate", .shape = {EMBD, FF}, .role = D, .where = dense},
               {.name = "ffn_up", .shape = {EMBD, FF}, .role = D, .where = dense},
               {.name = "ffn_down", .shape = {FF, EMBD}, .role = D, .where = dense},
               // The routed blocks: router (V3: a selection bias), experts, shared experts.
               {.name = "ffn_gate_inp", .shape = {EMBD, EXPERTS}, .role = tensor_role::ROUTER, .where = moe, .f32 = true},
               {.name     = "exp_probs_b",
                .suffix   = "bias",
                .shape    = {EXPERTS},
                .role     = tensor_role::ROUTER,
                .where    = moe,
                .optional = true},
    };
    t.insert(t.end(), std::begin(block), std::end(block));
    append_routed_experts(t, moe);
    append_shared_expert(t, moe, false, true);  // unscaled; absent when expert_shared_count is 0
    static const std::vector<tensor_spec> table = std::move(t);
    return table;
}

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
    v.routing.scoring         = hp.expert_gating_func == 2 ? router_scoring::SIGMOID : router_scoring::SOFTMAX;
    v.routing.n_group         = static_cast<int>(std::max<int64_t>(hp.n_expert_group, 1));
    v.routing.n_group_used    = static_cast<int>(std::max<int64_t>(hp.n_expert_group_used, 1));
    v.routing.normalize       = hp.expert_weights_norm;
    v.routing.scale           = hp.expert_weights_scale;
    const bool shared_experts = hp.n_ff_shared > 0 || hp.n_expert_shared > 0;

    auto m = std::make_unique<moe_transformer>(f, hp, v, deepseek2_tensors());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t = m->tensors(l);
        block_weights &     w = m->add_block();
        w.attn_norm           = t.vector("attn_norm");
        w.ffn_norm            = t.vector("ffn_norm");
        w.attn                = load_mla_weights(t, v.mla);
        if (l < hp.n_layer_dense_lead) {  // a dense SwiGLU FFN, no router
            w.shared.emplace(
                shared_expert{.gate = t.matrix("ffn_gate"), .up = t.matrix("ffn_up"), .down = t.matrix("ffn_down")});
            continue;
        }
        w.router_matrix = t.matrix("ffn_gate_inp");
        if (t.has("exp_probs_b", "bias")) {
            w.selection_bias = t.vector("exp_probs_b", "bias");
        }
        if (shared_experts) {  // always-on shared experts, unscaled
            w.shared.emplace(shared_expert{.gate = t.matrix("ffn_gate_shexp"),
                                           .up   = t.matrix("ffn_up_shexp"),
                                           .down = t.matrix("ffn_down_shexp")});
        }
        w.experts = t.experts();
    }
    m->finish();
    return m;
}

}  // namespace sluice
