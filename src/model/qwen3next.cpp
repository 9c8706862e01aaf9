// qwen3next: Qwen3-Next-80B-A3B (instruct and thinking).
//
// A hybrid: every full_attention_interval-th block (3, 7, ... for 4) is gated full
// attention, the others gated DeltaNet linear attention (delta_net.h). Per block: RMSNorm
// -> attention or DeltaNet -> residual; RMSNorm (post_attention_norm) -> MoE -> residual.
// Gated attention: attn_q gives per head a query and an output gate; per-head RMSNorm of q
// and k, NeoX RoPE on the first rope.dimension_count dims, causal GQA over the KV cache,
// output * sigmoid(gate), attn_output. MoE: softmax top-k renormalised, plus a shared
// expert scaled by sigmoid(ffn_gate_inp_shexp . h). The session state holds the KV cache of
// the attention blocks and the convolution + recurrent state of the DeltaNet blocks.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

namespace sluice {
namespace {

int64_t require_key(const gguf_file & f, int64_t value, const char * key) {
    if (value <= 0) {
        fail("{}: metadata 'qwen3next.{}' is missing", f.path(), key);
    }
    return value;
}

}  // namespace

std::span<const tensor_spec> qwen3next_tensors() {
    using enum dim;
    constexpr tensor_role    R    = tensor_role::RECURRENT;
    constexpr block_set      full = block_set::FULL_ATTENTION, rec = block_set::RECURRENT;
    std::vector<tensor_spec> t       = decoder_ends();
    const tensor_spec        block[] = {
               {.name = "attn_norm", .shape = {EMBD}, .role = tensor_role::NORM, .init = 1},
               // Full attention: per head a query, then its output gate.
               {.name = "attn_q", .shape = {EMBD, Q_GATED}, .where = full},
               {.name = "attn_k", .shape = {EMBD, KV}, .where = full},
               {.name = "attn_v", .shape = {EMBD, KV}, .where = full},
               {.name = "attn_output", .shape = {Q, EMBD}, .where = full},
               {.name = "attn_q_norm", .shape = {HEAD}, .role = tensor_role::NORM, .where = full, .init = 1},
               {.name = "attn_k_norm", .shape = {HEAD}, .role = tensor_role::NORM, .where = full, .init = 1},
               // Gated DeltaNet (delta_net.h).
               {.name = "attn_qkv", .shape = {EMBD, SSM_CONV}, .role = R, .where = rec},
               {.name = "attn_gate", .shape = {EMBD, SSM_VALUE}, .role = R, .where = rec},
               {.name = "ssm_ba", .shape = {EMBD, SSM_BA}, .role = R, .where = rec, .f32 = true},
               {.name = "ssm_out", .shape = {SSM_VALUE, EMBD}, .role = R, .where = rec},
               {.name = "ssm_conv1d", .shape = {SSM_CONV_KERNEL, SSM_CONV}, .role = R, .where = rec, .f32 = true},
               {.name = "ssm_dt", .suffix = "bias", .shape = {SSM_V_HEADS}, .role = R, .where = rec},
               {.name = "ssm_a", .suffix = "", .shape = {SSM_V_HEADS}, .role = R, .where = rec, .init = -1},
               {.name = "ssm_norm", .shape = {SSM_HEAD_V}, .role = tensor_role::NORM, .where = rec, .init = 1},
               // MoE with a sigmoid-gated shared expert.
               {.name = "post_attention_norm", .shape = {EMBD}, .role = tensor_role::NORM, .init = 1},
               {.name = "ffn_gate_inp", .shape = {EMBD, EXPERTS}, .role = tensor_role::ROUTER, .f32 = true},
    };
    t.insert(t.end(), std::begin(block), std::end(block));
    append_routed_experts(t, block_set::ALL);
    append_shared_expert(t, block_set::ALL, true, false);
    static const std::vector<tensor_spec> table = std::move(t);
    return table;
}

std::unique_ptr<model> build_qwen3next(const gguf_file & f) {
    model_hparams hp = read_moe_hparams(f, "qwen3next");
    const int64_t d  = hp.n_embd;
    require_key(f, hp.n_ff_expert, "expert_feed_forward_length");
    if (hp.full_attention_interval == 0) {
        hp.full_attention_interval = 4;  // llama.cpp's default when the key is absent
    }
    transformer_variant v;
    v.rope              = rope_style::NEOX;
    v.routing.normalize = true;
    v.delta             = delta_net_geometry{.n_embd      = d,
                                             .n_k_heads   = require_key(f, hp.ssm_group_count, "ssm.group_count"),
                                             .n_v_heads   = require_key(f, hp.ssm_time_step_rank, "ssm.time_step_rank"),
                                             .head_k      = require_key(f, hp.ssm_state_size, "ssm.state_size"),
                                             .head_v      = 0,
                                             .conv_kernel = require_key(f, hp.ssm_conv_kernel, "ssm.conv_kernel"),
                                             .eps         = hp.rms_eps};
    require_key(f, hp.ssm_inner_size, "ssm.inner_size");
    if (v.delta.n_v_heads % v.delta.n_k_heads != 0 || hp.ssm_inner_size % v.delta.n_v_heads != 0) {
        fail("{}: {} DeltaNet value heads (inner size {}) cannot share {} key heads", f.path(), v.delta.n_v_heads,
             hp.ssm_inner_size, v.delta.n_k_heads);
    }
    v.delta.head_v = hp.ssm_inner_size / v.delta.n_v_heads;

    auto m = std::make_unique<moe_transformer>(f, hp, v, qwen3next_tensors());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t = m->tensors(l);
        block_weights &     w = m->add_block();
        w.attn_norm           = t.vector("attn_norm");
        w.ffn_norm            = t.vector("post_attention_norm");
        if ((l + 1) % hp.full_attention_interval != 0) {
            w.attn = load_delta_net_weights(t, v.delta);
        } else {
            gqa_weights a{};
            a.wq          = t.matrix("attn_q");
            a.wk          = t.matrix("attn_k");
            a.wv          = t.matrix("attn_v");
            a.wo          = t.matrix("attn_output");
            a.q_norm      = t.vector("attn_q_norm");
            a.k_norm      = t.vector("attn_k_norm");
            a.output_gate = true;
            w.attn        = std::move(a);
        }
        w.router_matrix   = t.matrix("ffn_gate_inp");
        w.experts         = t.experts();
        w.shared_gate_inp = t.vector("ffn_gate_inp_shexp");
        w.shared.emplace(shared_expert{
            .gate = t.matrix("ffn_gate_shexp"), .up = t.matrix("ffn_up_shexp"), .down = t.matrix("ffn_down_shexp")});
    }
    m->finish();
    return m;
}

}  // namespace sluice
