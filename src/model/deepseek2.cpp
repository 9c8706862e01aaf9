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
#include "model/layers.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/token_io.h"
#include "model/weights.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace sluice {
namespace {

struct deepseek2_block {
    std::vector<float> attn_norm, ffn_norm, selection_bias;
    mla_weights        attn;
    shared_expert      ffn{};     // the dense FFN of a leading block, else the shared experts
    weight_matrix      router{};  // data == nullptr: a dense block
    moe_options        moe{};     // a routed block's routing, selection bias and shared experts
};

class deepseek2 final : public model {
  public:
    explicit deepseek2(const gguf_file & f);

    const model_hparams &     hparams() const override { return hp_; }
    const expert_store &      experts() const override { return *experts_; }
    std::span<const moe_gate> gates() const override { return gates_; }

    // The cache holds one latent row (kv_lora + rope) per position and block, keys only.
    std::unique_ptr<model_state> new_state(int64_t n_ctx, ggml_type kv_type) const override {
        return std::make_unique<model_state>(hp_.n_layer, n_ctx, geo_.cache_row(), kv_type, false);
    }

    void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx, float * logits,
                 bool all_logits) const override;

  private:
    model_hparams                hp_;
    mla_geometry                 geo_;
    token_io                     io_;
    std::vector<deepseek2_block> blocks_;
    std::optional<expert_store>  experts_;
    std::vector<moe_gate>        gates_;
};

int64_t require_key(const gguf_file & f, const model_hparams & hp, int64_t value, const char * key) {
    if (value <= 0) {
        fail("{}: metadata '{}.{}' is missing", f.path(), hp.arch, key);
    }
    return value;
}

deepseek2::deepseek2(const gguf_file & f) : hp_(read_moe_hparams(f, "deepseek2")) {
    const int64_t d = hp_.n_embd;
    require_key(f, hp_, hp_.n_ff_expert, "expert_feed_forward_length");
    require_key(f, hp_, hp_.kv_lora_rank, "attention.kv_lora_rank");
    geo_ = mla_geometry{.n_embd    = d,
                        .n_head    = hp_.n_head,
                        .q_lora    = hp_.q_lora_rank,
                        .kv_lora   = hp_.kv_lora_rank,
                        .nope      = hp_.head_dim_mla - hp_.rope_dim,
                        .rope      = hp_.rope_dim,
                        .v_head    = hp_.v_head_dim_mla,
                        .eps       = hp_.rms_eps,
                        .rope_base = hp_.rope_base};
    if (geo_.nope <= 0 || geo_.v_head <= 0) {
        fail("{}: MLA head of {} dims with {} RoPE dims and value head {} is not usable", f.path(), hp_.head_dim_mla,
             hp_.rope_dim, geo_.v_head);
    }
    if (hp_.n_layer_dense_lead > 0) {
        require_key(f, hp_, hp_.n_ff, "feed_forward_length");
    }
    const int64_t ff_shared = hp_.n_ff_shared > 0 ? hp_.n_ff_shared : hp_.n_ff_expert * hp_.n_expert_shared;
    io_                     = token_io::load(f, d);
    hp_.n_vocab             = io_.n_vocab;

    const bool          sigmoid = hp_.expert_gating_func == 2;
    const group_routing routing{.sigmoid      = sigmoid,
                                .n_group      = static_cast<int>(std::max<int64_t>(hp_.n_expert_group, 1)),
                                .n_group_used = static_cast<int>(std::max<int64_t>(hp_.n_expert_group_used, 1)),
                                .normalize    = hp_.expert_weights_norm,
                                .scale        = hp_.expert_weights_scale};

    std::vector<expert_layer_tensors> expert_tensors;
    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const block_tensors t(f, l);
        deepseek2_block     w;
        w.attn_norm = t.vector("attn_norm", d);
        w.ffn_norm  = t.vector("ffn_norm", d);
        w.attn      = load_mla_weights(f, l, geo_);
        if (l < hp_.n_layer_dense_lead) {
            w.ffn = {t.matrix("ffn_gate", d, hp_.n_ff), t.matrix("ffn_up", d, hp_.n_ff),
                     t.matrix("ffn_down", hp_.n_ff, d), nullptr};
            expert_tensors.push_back({});
        } else {
            w.router = t.matrix("ffn_gate_inp", d, hp_.n_expert);
            if (f.find_tensor(t.name("exp_probs_b", "bias")) != nullptr) {
                w.selection_bias = t.vector("exp_probs_b", hp_.n_expert, "bias");
            }
            if (ff_shared > 0) {
                w.ffn = {t.matrix("ffn_gate_shexp", d, ff_shared), t.matrix("ffn_up_shexp", d, ff_shared),
                         t.matrix("ffn_down_shexp", ff_shared, d), nullptr};
            }
            expert_tensors.push_back(t.experts());
        }
        blocks_.push_back(std::move(w));
    }
    experts_.emplace(f, std::move(expert_tensors), d, hp_.n_ff_expert, static_cast<int>(hp_.n_expert));

    for (deepseek2_block & w : blocks_) {  // blocks_ no longer grows: the pointers stay valid
        const float * bias         = w.selection_bias.empty() ? nullptr : w.selection_bias.data();
        w.moe                      = moe_options{.n_expert      = static_cast<int>(hp_.n_expert),
                                                 .n_expert_used = static_cast<int>(hp_.n_expert_used),
                                                 .shared        = w.ffn.gate.data != nullptr ? &w.ffn : nullptr,
                                                 .routing       = moe_routing::GROUP_LIMITED,
                                                 .group         = routing};
        w.moe.group.selection_bias = bias;
        gates_.push_back(moe_gate{.norm           = w.ffn_norm.data(),
                                  .eps            = hp_.rms_eps,
                                  .router         = w.router,
                                  .selection_bias = bias,
                                  .sigmoid_scores = sigmoid});
    }
}

void deepseek2::forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                        float * logits, bool all_logits) const {
    const auto    n    = static_cast<int64_t>(tokens.size());
    const int64_t pos0 = state.n_past;
    if (n == 0) {
        return;
    }
    check_tokens(tokens, pos0, state.n_ctx(), hp_.n_vocab);
    const int64_t      d = hp_.n_embd;
    std::vector<float> x(n * d), h(n * d), o(n * d);
    io_.embed(tokens, x.data());

    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const deepseek2_block & w = blocks_[l];
        rms_norm(x.data(), w.attn_norm.data(), h.data(), n, d, hp_.rms_eps);
        mla_attention(w.attn, geo_, h.data(), n, pos0, state.kv, l, ctx.mm, o.data());
        add_residual(x.data(), o.data(), n * d);

        ctx.experts.on_ffn_input(static_cast<int>(l), x.data(), n);
        rms_norm(x.data(), w.ffn_norm.data(), h.data(), n, d, hp_.rms_eps);
        if (w.router.data == nullptr) {  // a leading dense block: its FFN is a gate-less "shared expert"
            std::fill(o.begin(), o.end(), 0.0f);
            add_shared_expert(h.data(), n, w.ffn, ctx.mm, o.data());
        } else {
            moe_block(h.data(), n, pos0, static_cast<int>(l), w.router, w.moe, ctx, o.data());
        }
        add_residual(x.data(), o.data(), n * d);
    }
    state.n_past = pos0 + n;
    io_.logits(x.data(), n, all_logits, hp_.rms_eps, h.data(), ctx.mm, logits);
}

}  // namespace

std::unique_ptr<model> build_deepseek2(const gguf_file & file) {
    return std::make_unique<deepseek2>(file);
}

}  // namespace sluice
