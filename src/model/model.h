// The interface every architecture implements, and what a forward pass needs from outside:
// the matrix runner (threads + ISA), the expert source (where expert bytes live) and an
// optional observer of routing decisions (logits --json, traces, tests).
#pragma once

#include "experts/expert_parallel.h"
#include "experts/expert_source.h"
#include "experts/expert_store.h"
#include "experts/router.h"
#include "kernels/kernels.h"
#include "model/delta_net.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/layers.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace sluice {

// Called once per token and MoE layer with the token's position in the sequence, the experts
// the router chose (ordered by router probability, descending), their weights as applied,
// and the full router probabilities.
class forward_observer {
  public:
    virtual ~forward_observer()                                                           = default;
    virtual void on_routing(int layer, int64_t position, std::span<const int32_t> experts,
                            std::span<const float> weights, std::span<const float> probs) = 0;
    // The residual stream entering block `layer`'s FFN, one row of n_embd per entry of
    // `positions` (each row's position in its sequence): what predictors see. Calibration and
    // traces use it; the default ignores it.
    virtual void on_ffn_input(int /*layer*/, const float * /*x*/, std::span<const int64_t> /*positions*/) {}
    // One routed expert's output before its routing weight: rows of n_embd (y), one per entry
    // of `positions`, with the weight each row applies to it. `sluice prune` scores experts by
    // weight x |y|; the default ignores it.
    virtual void on_expert_output(int /*layer*/, int32_t /*expert*/, std::span<const int64_t> /*positions*/,
                                  std::span<const float> /*weights*/, const float * /*y*/, int64_t /*n_embd*/) {}
};

// What the MoE blocks computed, summed over forward passes: per layer, the passes and the
// distinct experts of each (the union over the pass's rows: each read once per pass). A
// server divides them into experts per step and layer, and bytes per token.
struct expert_use_counts {
    std::vector<uint64_t> passes;   // [layer]
    std::vector<uint64_t> experts;  // [layer]

    void add(int layer, size_t distinct) {
        if (passes.size() <= static_cast<size_t>(layer)) {
            passes.resize(static_cast<size_t>(layer) + 1);
            experts.resize(static_cast<size_t>(layer) + 1);
        }
        ++passes[layer];
        experts[layer] += distinct;
    }
};

// Buffers the blocks of a pass reuse (grown, never shrunk; contents are scratch): freeing
// them after every block made glibc hand the memory back and fault it in again, a fifth of a
// batched decode step's time.
struct forward_workspace {
    std::vector<float>  stream, normed, block_out;  // the block loop's [n][d] rows
    std::vector<float>  g, u;                       // a run of routed experts' gate and up outputs per row
    std::vector<float>  y;                          // every routed expert's down outputs, [rows][d] in `used` order
    std::vector<double> acc;                        // the block's weighted sum, [n][d] (with expert parallelism)
    // Attention's projections: q (with its gates, if any), k, v, the gates, the heads' output;
    // RoPE's angles at the pass's positions (one segment: computed once for every layer).
    std::vector<float> q, k, v, gate, att;
    rope_table         rope;
};

// v's data, with room for at least n values (contents unspecified): a workspace buffer grown
// to what this pass needs.
inline float * grown(std::vector<float> & v, size_t n) {
    if (v.size() < n) {
        v.resize(n);
    }
    return v.data();
}

struct forward_context {
    matmul_runner &    mm;
    expert_source &    experts;
    forward_observer * observer = nullptr;
    // Routing controls, counters and records for the rows of the pass: empty, none; one entry,
    // every row; else one entry per row (a batched decode of sequences with their own controls).
    std::span<const row_routing> routing = {};
    // Expert parallelism: this process computes only the routed experts it owns, and each MoE
    // block's routed sum is combined with the other processes' before the shared expert is
    // added. nullptr: one process computes every expert.
    expert_parallel * parallel = nullptr;
    // Counts what each MoE block computed, or nullptr.
    expert_use_counts * use = nullptr;
    // Scratch reused across blocks and passes (the engine's), or nullptr: each block allocates.
    forward_workspace * work = nullptr;

    const row_routing * routing_of(int64_t row) const {
        return routing.empty() ? nullptr : routing.size() == 1 ? &routing[0] : &routing[row];
    }
};

// Per-sequence state, for every kind of block: the KV cache (attention: keys and values per
// position; multi-head latent attention: one latent row per position, keys only) and the
// recurrent state of each linear-attention block (gated DeltaNet). Blocks address it by
// their own index among the blocks of their kind. A forward pass at n_past 0 starts the
// recurrent states afresh, so session::reset() (n_past = 0) resets every kind of state.
class model_state {
  public:
    // A cache of `kv_layers` layers of `kv_row_len` floats per position (keys only unless
    // kv_values), and `recurrent` DeltaNet states of geometry `g`.
    model_state(int64_t kv_layers, int64_t n_ctx, int64_t kv_row_len, ggml_type kv_type, bool kv_values,
                int64_t recurrent = 0, const delta_net_geometry & g = {})
        : kv(kv_layers, n_ctx, kv_row_len, kv_type, kv_values), rec(recurrent, delta_net_state(g)) {}

    int64_t n_ctx() const { return kv.n_ctx(); }
    // Zeroes the recurrent states (a new sequence at position 0).
    void start_sequence() {
        for (delta_net_state & r : rec) {
            r.clear();
        }
    }

    kv_cache                     kv;
    std::vector<delta_net_state> rec;
    int64_t                      n_past = 0;  // positions [0, n_past) are in the cache
};

// Rows [row0, row0 + n) of a forward pass belong to one sequence, at positions pos0.. of its
// state: prefill is one segment of n rows, a batched decode step n segments of one row.
struct segment {
    model_state * state;
    int64_t       row0, n, pos0;
};

// One sequence's rows in a batched forward pass: tokens fed to state at its n_past.
struct sequence_feed {
    model_state *            state;
    std::span<const int32_t> tokens;
};

class model {
  public:
    virtual ~model() = default;

    virtual const model_hparams & hparams() const = 0;
    // The routed experts of every MoE layer, in file order of layers.
    virtual const expert_store & experts() const = 0;
    // One router per block (layers numbered as in the file); a dense block's is not routed().
    virtual std::span<const router> routers() const = 0;

    virtual std::unique_ptr<model_state> new_state(int64_t n_ctx, ggml_type kv_type) const = 0;

    // Runs `tokens` at positions state.n_past.. and advances n_past. Every block shows its
    // residual stream before its FFN to ctx.experts.on_ffn_input() (and the observer's), then
    // gets its routed experts through ctx.experts.for_each_expert() (moe_block does this). Writes n_vocab logits
    // per token to `logits` when all_logits, else only those of the last token. Throws if
    // the tokens do not fit in the context or an id is out of range.
    virtual void forward(model_state & state, std::span<const int32_t> tokens, const forward_context & ctx,
                         float * logits, bool all_logits) const = 0;

    // One pass over several sequences at once (continuous batching): seqs[i].tokens go to
    // seqs[i].state at its own positions from n_past, which then advances; one token each for
    // a decode step, a prompt chunk for a sequence still prefilling. logits: [seqs][n_vocab],
    // each after its sequence's last token. The states must be distinct. Shares the pass's
    // weight reads across the rows and gives the logits forward() gives each sequence alone,
    // bit for bit.
    virtual void forward_batch(std::span<const sequence_feed> seqs, const forward_context & ctx,
                               float * logits) const = 0;
};

}  // namespace sluice
