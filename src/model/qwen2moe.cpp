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

std::span<const tensor_spec> qwen2moe_tensors() {
    using enum dim;
    static const std::vector<tensor_spec> t = [] {
        std::vector<tensor_spec> rows =
            attention_moe_table("ffn_norm", {{.name = "attn_q", .suffix = "bias", .shape = {Q}},
                                             {.name = "attn_k", .suffix = "bias", .shape = {KV}},
                                             {.name = "attn_v", .suffix = "bias", .shape = {KV}}});
        append_shared_expert(rows, block_set::ALL, true, false);
        return rows;
    }();
    return t;
}

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
    auto m              = std::make_unique<moe_transformer>(f, hp, v, qwen2moe_tensors());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t = m->tensors(l);
        block_weights &     w = m->add_block();
        read_standard_block(t, w);
        w.gqa().bq = t.vector("attn_q", "bias");
        w.gqa().bk = t.vector("attn_k", "bias");
        w.gqa().bv = t.vector("attn_v", "bias");
        w.shared.emplace(shared_expert{
            .gate = t.matrix("ffn_gate_shexp"), .up = t.matrix("ffn_up_shexp"), .down = t.matrix("ffn_down_shexp")});
        w.shared_gate_inp = t.vector("ffn_gate_inp_shexp");
    }
    m->finish();
    return m;
}

}  // namespace sluice
