// qwen3moe: Qwen3-30B-A3B, Qwen3-235B-A22B and their fine-tunes.
//
// Per layer: RMSNorm -> Q/K/V -> per-head RMSNorm of q and k -> NeoX RoPE -> causal GQA ->
// output projection -> residual; RMSNorm -> router softmax -> top-k (renormalised) -> SwiGLU
// experts -> weighted sum -> residual. No shared expert, no attention biases.
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

namespace sluice {

std::span<const tensor_spec> qwen3moe_tensors() {
    using enum dim;
    static const std::vector<tensor_spec> t = attention_moe_table(
        "ffn_norm", {{.name = "attn_q_norm", .shape = {HEAD}, .role = tensor_role::NORM, .init = 1},
                     {.name = "attn_k_norm", .shape = {HEAD}, .role = tensor_role::NORM, .init = 1}});
    return t;
}

std::unique_ptr<model> build_qwen3moe(const gguf_file & f) {
    const model_hparams hp = read_moe_hparams(f, "qwen3moe");
    if (hp.n_ff_expert == 0) {
        fail("{}: metadata 'qwen3moe.expert_feed_forward_length' is missing", f.path());
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.routing.normalize = true;
    auto m              = std::make_unique<moe_transformer>(f, hp, v, qwen3moe_tensors());
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
