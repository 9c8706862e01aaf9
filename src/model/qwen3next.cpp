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

std::unique_ptr<model> build_qwen3next(const gguf_file & f) {
    model_hparams hp = read_moe_hparams(f, "qwen3next");
    const int64_t d = hp.n_embd, hd = hp.head_dim;
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
    v.delta.head_v          = hp.ssm_inner_size / v.delta.n_v_heads;
    const int64_t ff_shared = hp.n_ff_shared > 0 ? hp.n_ff_shared : hp.n_ff_expert;

    auto m = std::make_unique<moe_transformer>(f, hp, v);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const block_tensors t(f, l);
        block_weights &     w = m->add_block();
        w.attn_norm           = t.vector("attn_norm", d);
        w.ffn_norm            = t.vector("post_attention_norm", d);
        if ((l + 1) % hp.full_attention_interval != 0) {
            w.attn = load_delta_net_weights(f, l, v.delta);
        } else {
            gqa_weights a{};
            a.wq          = t.matrix("attn_q", d, hp.n_head * 2 * hd);
            a.wk          = t.matrix("attn_k", d, hp.n_head_kv * hd);
            a.wv          = t.matrix("attn_v", d, hp.n_head_kv * hd);
            a.wo          = t.matrix("attn_output", hp.n_head * hd, d);
            a.q_norm      = t.vector("attn_q_norm", hd);
            a.k_norm      = t.vector("attn_k_norm", hd);
            a.output_gate = true;
            w.attn        = std::move(a);
        }
        w.router_matrix   = t.matrix("ffn_gate_inp", d, hp.n_expert);
        w.experts         = t.experts();
        w.shared_gate_inp = t.vector("ffn_gate_inp_shexp", d);
        w.shared.emplace(shared_expert{.gate = t.matrix("ffn_gate_shexp", d, ff_shared),
                                       .up   = t.matrix("ffn_up_shexp", d, ff_shared),
                                       .down = t.matrix("ffn_down_shexp", ff_shared, d)});
    }
    m->finish();
    return m;
}

}  // namespace sluice
