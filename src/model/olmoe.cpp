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

std::unique_ptr<model> build_olmoe(const gguf_file & f) {
    model_hparams hp = read_moe_hparams(f, "olmoe");
    if (hp.n_ff_expert == 0) {  // the usual case: the expert width is the FFN width
        hp.n_ff_expert = f.require_u32("olmoe.feed_forward_length");
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.qk_norm_full      = true;
    v.routing.normalize = false;
    auto m              = std::make_unique<moe_transformer>(f, hp, v);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t(f, l);
        block_weights &     w = m->add_block();
        read_standard_block(t, hp, w);
        w.gqa().q_norm = t.vector("attn_q_norm", hp.n_head * hp.head_dim);
        w.gqa().k_norm = t.vector("attn_k_norm", hp.n_head_kv * hp.head_dim);
    }
    m->finish();
    return m;
}

}  // namespace sluice
