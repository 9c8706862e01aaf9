// qwen3moe: Qwen3-30B-A3B, Qwen3-235B-A22B and their fine-tunes.
//
// Per layer: RMSNorm -> Q/K/V -> per-head RMSNorm of q and k -> NeoX RoPE -> causal GQA ->
// output projection -> residual; RMSNorm -> router softmax -> top-k (renormalised) -> SwiGLU
// experts -> weighted sum -> residual. No shared expert, no attention biases.
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

namespace sluice {

std::unique_ptr<model> build_qwen3moe(const gguf_file & f) {
    const model_hparams hp = read_moe_hparams(f, "qwen3moe");
    if (hp.n_ff_expert == 0) {
        fail("{}: metadata 'qwen3moe.expert_feed_forward_length' is missing", f.path());
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.routing.normalize = true;
    auto m              = std::make_unique<moe_transformer>(f, hp, v);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t(f, l);
        block_weights &     w = m->add_block();
        read_standard_block(t, hp, w);
        w.gqa().q_norm = t.vector("attn_q_norm", hp.head_dim);
        w.gqa().k_norm = t.vector("attn_k_norm", hp.head_dim);
    }
    m->finish();
    return m;
}

}  // namespace sluice
