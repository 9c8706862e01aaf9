// The ends of a transformer every architecture shares: the token embedding table in, the
// final RMSNorm and the output matrix (or the tied embedding table) out, and the checks on a
// batch of tokens before a forward pass.
#pragma once

#include "gguf/gguf.h"
#include "kernels/kernels.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

struct token_io {
    const gguf_tensor * token_embd = nullptr;  // n_vocab rows of n_embd
    std::vector<float>  output_norm;           // n_embd
    weight_matrix       output{};              // n_vocab rows x n_embd
    int64_t             n_embd  = 0;
    int64_t             n_vocab = 0;

    // Reads token_embd.weight, output_norm.weight and output.weight (tied when absent).
    static token_io load(const gguf_file & f, int64_t n_embd);

    // x: [tokens.size()][n_embd].
    void embed(std::span<const int32_t> tokens, float * x) const;

    // out: [n][n_vocab], the logits of the n rows of x: [n][n_embd] (h: scratch of the same size).
    void logits(const float * x, int64_t n, float eps, float * h, matmul_runner & mm, float * out) const;
};

// Throws if n tokens do not fit after pos0 in a context of n_ctx or an id is out of range.
void check_tokens(std::span<const int32_t> tokens, int64_t pos0, int64_t n_ctx, int64_t n_vocab);

}  // namespace sluice
