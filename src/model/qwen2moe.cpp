// qwen2moe: Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B.
//
// Per layer: RMSNorm -> Q/K/V with biases -> NeoX RoPE -> causal GQA -> output projection ->
// residual; RMSNorm -> router softmax -> top-k, weights left as probabilities -> SwiGLU
// experts -> weighted sum, plus a shared SwiGLU expert scaled by
// sigmoid(ffn_gate_inp_shexp . h) -> residual.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

namespace sluice {

std::unique_ptr<model> build_qwen2moe(const gguf_file & f) {
    const model_hparams hp = read_moe_hparams(f, "qwen2moe");
    if (hp.n_ff_expert == 0) {
        fail("{}: metadata 'qwen2moe.expert_feed_forward_length' is missing", f.path());
    }
    if (hp.n_ff_shared == 0) {
        fail("{}: metadata 'qwen2moe.expert_shared_feed_forward_length' is missing", f.path());
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.routing.normalize = false;
    auto          m     = std::make_unique<moe_transformer>(f, hp, v);
    const int64_t d = hp.n_embd, ffs = hp.n_ff_shared;
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t(f, l);
        block_weights &     w = m->add_block();
        read_standard_block(t, hp, w);
        w.gqa().bq = t.vector("attn_q", hp.n_head * hp.head_dim, "bias");
        w.gqa().bk = t.vector("attn_k", hp.n_head_kv * hp.head_dim, "bias");
        w.gqa().bv = t.vector("attn_v", hp.n_head_kv * hp.head_dim, "bias");
        w.shared.emplace(shared_expert{.gate = t.matrix("ffn_gate_shexp", d, ffs),
                                       .up   = t.matrix("ffn_up_shexp", d, ffs),
                                       .down = t.matrix("ffn_down_shexp", ffs, d)});
        w.shared_gate_inp = t.vector("ffn_gate_inp_shexp", d);
    }
    m->finish();
    return m;
}

}  // namespace sluice
