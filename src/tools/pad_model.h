// `sluice synth --from SMALL.gguf --d 2048 --ff 768 [--type q4_K]`: a trained model embedded
// in a wider geometry by zero padding, so streaming is measured on learned routing at a real
// model's expert size (the trained 55 MiB model becomes ~0.7 GiB of Q4_K experts).
//
// Padded dims are zeros after the real ones: the embedding's and output's rows, the input
// columns of every projection (q/k/v, routers, experts' gate/up, shared experts, ...), the
// output rows of attn_output and the experts' down; the experts' gate/up get zero rows and
// down zero columns beyond ff. The hidden state then stays [h, 0, ..., 0]: attention, routing
// and the experts see the same numbers (silu(0) * 0 = 0 for the new expert columns). RMSNorm
// is the one non-linear step over d: mean(x^2) over D dims is (d/D) of the mean over d, so the
// norm weights are scaled by sqrt(d/D) and the epsilon by d/D, giving the same output. The
// function is the small model's up to float rounding: same logits within F32 noise when the
// types are kept, same routing away from near-ties.
//
// The one key a file has for every norm's epsilon is the catch: norms over other widths (per-
// head q/k norms, DeltaNet's gated norm) see eps x d/D, which moves their output by about
// eps (1 - d/D) / mean(x^2), relative. That is ~1e-6 where activations are O(1) (qwen3moe's q/k
// norms: its padded models match the goldens at 1e-4), but not for the tiny random qwen3next,
// whose DeltaNet outputs at the first positions are small enough for eps to matter.
#pragma once

#include "tensor/types.h"

#include <cstdint>
#include <optional>
#include <string>

namespace sluice {

class thread_pool;

struct pad_options {
    int64_t n_embd      = 0;  // D >= the model's d; 0 keeps d
    int64_t n_ff_expert = 0;  // FF >= the routed experts' ff; 0 keeps ff
    // Every weight matrix but the routers and the tensors the architecture keeps in F32, where
    // the type's blocks divide its rows (else Q8_0 or F16); nullopt keeps each tensor's type
    // (and its bytes: padding then only appends zero blocks).
    std::optional<ggml_type> type;
};

struct pad_report {
    int64_t  d_from = 0, d_to = 0, ff_from = 0, ff_to = 0;
    uint64_t bytes = 0;  // tensor data written
};

// Writes `input` padded to `output`, tensor by tensor (one tensor in memory at a time), with
// the input's metadata (its tokenizer too, so other engines load the file) and the new sizes.
// Throws when the architecture has no tensor table, a tensor is not in it, a size would
// shrink, or a tensor's type cannot be written.
pad_report write_padded_model(const std::string & input, const pad_options & opt, const std::string & output,
                              thread_pool & pool);

}  // namespace sluice
