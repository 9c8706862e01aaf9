// The interface every architecture implements, and what a forward pass needs from outside:
// the matrix runner (threads + ISA), the expert source (where expert bytes live) and an
// optional observer of routing decisions (logits --json, traces, tests).
#pragma once

#include "experts/expert_source.h"
#include "experts/expert_store.h"
#include "experts/gate.h"
#include "kernels/kernels.h"
#include "model/hparams.h"
#include "model/kv_cache.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace sluice {

// Called once per token and MoE layer with the token's position in the sequence, the experts
// the router chose (ordered by router probability, descending), their weights as applied,
// and the full router probabilities.
class forward_observer {
  public:
    virtual ~forward_observer()                                                           = default;
    virtual void on_routing(int layer, int64_t position, std::span<const int32_t> experts,
                            std::span<const float> weights, std::span<const float> probs) = 0;
};

struct forward_context {
    matmul_runner &    mm;
    expert_source &    experts;
    forward_observer * observer = nullptr;
};

// Per-sequence state: the KV cache and how many positions it holds. Architectures with more
// per-sequence state (recurrent layers) subclass it; their forward() starts that state afresh
// whenever n_past is 0, so session::reset() (n_past = 0) resets every kind of state.
class model_state {
  public:
    model_state(const model_hparams & hp, int64_t n_ctx, ggml_type kv_type)
        : kv(hp.n_layer, n_ctx, hp.n_head_kv * hp.head_dim, kv_type) {}
    // A cache of `kv_layers` layers of `kv_row_len` (keys only: one latent row per position).
    model_state(int64_t kv_layers, int64_t n_ctx, int64_t kv_row_len, ggml_type kv_type, bool kv_values)
        : kv(kv_layers, n_ctx, kv_row_len, kv_type, kv_values) {}
    virtual ~model_state() = default;

    int64_t n_ctx() const { return kv.n_ctx(); }

    kv_cache kv;
    int64_t  n_past = 0;  // positions [0, n_past) are in the cache
};

class model {
  public:
    virtual ~model() = default;

    virtual const model_hparams & hparams() const = 0;
    // The routed experts of every MoE layer, in file order of layers.
    virtual const expert_store & experts() const = 0;
    // One gate per block (layers numbered as in the file); a dense block's is not routed().
    virtual std::span<const moe_gate> gates() const = 0;

    virtual std::unique_ptr<model_state> new_state(int64_t n_ctx, ggml_type kv_type) const {
        return std::make_unique<model_state>(hparams(), n_ctx, kv_type);
    }

    // Runs `tokens` at positions state.n_past.. and advances n_past. Every block calls
    // ctx.experts.on_ffn_input() with its residual stream before its FFN, then gets its
    // routed experts through ctx.experts.acquire() (moe_block does this). Writes n_vocab logits
    // per token to `logits` when all_logits, else only those of the last token. Throws if
    // the tokens do not fit in the context or an id is out of range.
    virtual void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                         float * logits, bool all_logits) const = 0;

    // One decode step for several sequences at once (continuous batching): tokens[i] goes to
    // states[i] at its own position states[i]->n_past, which then advances; logits: [n][n_vocab].
    // The states must be distinct. The default runs forward() per sequence, so every
    // architecture is correct without an override; an override shares the weight reads of
    // the step across the rows and must give the same logits.
    virtual void forward_batch(std::span<model_state * const> states, std::span<const int32_t> tokens,
                               const forward_context & ctx, float * logits) const {
        for (size_t i = 0; i < states.size(); ++i) {
            forward(*states[i], tokens.subspan(i, 1), ctx, logits + i * hparams().n_vocab, false);
        }
    }
};

}  // namespace sluice
