// gpt-oss: gpt-oss-20b, gpt-oss-120b.
//
// Per layer: RMSNorm -> Q/K/V with biases (q width n_head * 64, not n_embd) -> NeoX RoPE ->
// causal GQA whose softmax also holds a learned per-head sink logit, over a sliding window
// of attention.sliding_window keys on even layers and over everything on odd ones ->
// output projection with bias -> residual; RMSNorm (post_attention_norm) -> router logits
// plus bias -> top-k of the logits, softmax over those k -> experts with per-expert biases
// and the clamped SwiGLU (alpha 1.702, limit 7, up + 1) -> weighted sum -> residual.
// Experts are MXFP4 in the released files.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

namespace sluice {

std::span<const tensor_spec> gpt_oss_tensors() {
    using enum dim;
    static const std::vector<tensor_spec> t = attention_moe_table(
        "post_attention_norm",
        {{.name = "attn_q", .suffix = "bias", .shape = {Q}},
         {.name = "attn_k", .suffix = "bias", .shape = {KV}},
         {.name = "attn_v", .suffix = "bias", .shape = {KV}},
         {.name = "attn_output", .suffix = "bias", .shape = {EMBD}},
         {.name = "attn_sinks", .shape = {HEADS}},
         {.name = "ffn_gate_inp", .suffix = "bias", .shape = {EXPERTS}, .role = tensor_role::ROUTER},
         {.name = "ffn_gate_exps", .suffix = "bias", .shape = {FF_EXPERT, EXPERTS}, .role = tensor_role::EXPERT_BIAS},
         {.name = "ffn_up_exps", .suffix = "bias", .shape = {FF_EXPERT, EXPERTS}, .role = tensor_role::EXPERT_BIAS},
         {.name = "ffn_down_exps", .suffix = "bias", .shape = {EMBD, EXPERTS}, .role = tensor_role::EXPERT_BIAS}});
    return t;
}

std::unique_ptr<model> build_gpt_oss(const gguf_file & f) {
    const model_hparams hp = read_moe_hparams(f, "gpt-oss");
    if (hp.n_ff_expert == 0) {
        fail("{}: metadata 'gpt-oss.expert_feed_forward_length' is missing", f.path());
    }
    if (hp.sliding_window == 0) {
        fail("{}: metadata 'gpt-oss.attention.sliding_window' is missing", f.path());
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.routing.normalize = false;
    v.routing.scoring   = router_scoring::SOFTMAX_OF_TOP_K;
    v.moe.swiglu_alpha  = 1.702f;
    v.moe.swiglu_limit  = 7.0f;
    auto m              = std::make_unique<moe_transformer>(f, hp, v, gpt_oss_tensors());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t = m->tensors(l);
        block_weights &     w = m->add_block();
        read_standard_block(t, w, "post_attention_norm");
        w.gqa().bq       = t.vector("attn_q", "bias");
        w.gqa().bk       = t.vector("attn_k", "bias");
        w.gqa().bv       = t.vector("attn_v", "bias");
        w.gqa().bo       = t.vector("attn_output", "bias");
        w.gqa().sinks    = t.vector("attn_sinks");
        w.gqa().window   = l % 2 == 0 ? hp.sliding_window : 0;  // llama.cpp's swa pattern 2: even layers
        w.router_bias    = t.vector("ffn_gate_inp", "bias");
        w.gate_exps_bias = t.f32_view("ffn_gate_exps", "bias");
        w.up_exps_bias   = t.f32_view("ffn_up_exps", "bias");
        w.down_exps_bias = t.f32_view("ffn_down_exps", "bias");
    }
    m->finish();
    return m;
}

}  // namespace sluice
