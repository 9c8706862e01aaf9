// olmoe: OLMoE-1B-7B and its instruct versions.
//
// Per layer: RMSNorm -> Q/K/V -> RMSNorm of q and of k over the whole projection (not per
// head) -> NeoX RoPE -> causal attention -> output projection -> residual; RMSNorm -> router
// softmax -> top-k, weights left as probabilities -> SwiGLU experts -> weighted sum ->
// residual. The expert width is olmoe.feed_forward_length.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/transformer.h"

namespace sluice {

std::span<const tensor_spec> olmoe_tensors() {
    using enum dim;
    static const std::vector<tensor_spec> t =
        attention_moe_table("ffn_norm", {{.name = "attn_q_norm", .shape = {Q}, .role = tensor_role::NORM, .init = 1},
                                         {.name = "attn_k_norm", .shape = {KV}, .role = tensor_role::NORM, .init = 1}});
    return t;
}

std::unique_ptr<model> build_olmoe(const gguf_file & f) {
    model_hparams hp = read_moe_hparams(f, "olmoe");
    if (hp.n_ff_expert == 0) {  // the usual case: the expert width is the FFN width
        hp.n_ff_expert = f.require_u32("olmoe.feed_forward_length");
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.qk_norm_full      = true;
    v.routing.normalize = false;
    auto m              = std::make_unique<moe_transformer>(f, hp, v, olmoe_tensors());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t = m->tensors(l);
        block_weights &     w = m->add_block();
        read_standard_block(t, w);
        w.gqa().q_norm = t.vector("attn_q_norm");
        w.gqa().k_norm = t.vector("attn_k_norm");
    }
    m->finish();
    return m;
}

}  // namespace sluice
