// The routed-expert block shared by the MoE architectures: router logits, top-k, then each
// chosen expert's SwiGLU on the tokens routed to it, weighted and summed. The experts come
// from the forward context's expert source; this code never knows where their bytes live.
#pragma once

#include "model/model.h"

#include <cstdint>

namespace sluice {

struct moe_options {
    int  n_expert      = 0;
    int  n_expert_used = 0;
    bool normalize     = true;  // renormalise the top-k weights to sum to 1
};

// out[t] = sum over the chosen experts e of w_e * down_e(silu(gate_e h[t]) * up_e h[t]),
// for h: [n][d] holding the tokens at positions pos0..pos0+n-1; out: [n][d] (overwritten).
// Tokens are grouped by expert so each expert's matrices are read once per batch (matrix x
// matrix in prefill and batched decode, matrix x vector for one token). `positions`, when
// given, holds each row's own position (rows of different sequences in a batched decode);
// it only changes what the observer is told.
void moe_block(const float * h, int64_t n, int64_t pos0, int layer, const weight_matrix & router, const moe_options & opt,
               const forward_context & ctx, float * out, const int64_t * positions = nullptr);

}  // namespace sluice
