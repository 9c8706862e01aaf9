// The ISA-neutral driver of the "decoded" multi-token kernels: a quantized type's rows are
// decoded once per call, in groups of R, into the caller's scratch, the tokens' activations laid out
// once as the kernel reads them, and the kernel's register tile then runs over every token
// from L1. Register tiles that decode in registers pay the decode again for every few tokens;
// with many tokens that decode (scale unpacking, nibble and high-bit assembly) costs about as
// much as the dot products.
//
// A kernel D (x86/avx2_tile_k.cpp, x86/avx2_dot.cpp) supplies:
//   D::w_unit, D::a_unit, D::k_unit   the unit of a weight row and of a token's activations
//                                  (a K-quant super-block and its Q8_K block, or a pair of
//                                  Q8_0 blocks), k_unit values
//   D::decoded                     one row's unit, decoded (64-byte aligned)
//   D::act                         one token's unit as the tile reads it
//   D::decode(w_unit, decoded &)   and act::load(const a_unit &)
//   D::tile<R, T>(nb, xs, as, out, out_stride)   xs[b * R + r], as[t * nb + b]
// n must be a multiple of k_unit.
// D::tile applies per (row, token) the operations of the ISA's dot_rows in the same order,
// so results equal dot_rows bit for bit.
//
// Included by files compiled for one ISA each; everything lives in an unnamed namespace so
// each gets its own copy.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "tensor/blocks.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace sluice::kern {
namespace {
namespace decoded {

// Tokens [0, n_tok) of R decoded rows in groups of T, the rest with smaller T.
template <typename D, int R, int T>
void tokens(int64_t nb, const typename D::decoded * xs, const typename D::act * as, int64_t n_tok, float * out,
            int64_t out_stride) {
    int64_t t = 0;
    for (; t + T <= n_tok; t += T) {
        D::template tile<R, T>(nb, xs, as + t * nb, out + t * out_stride, out_stride);
    }
    if constexpr (T > 1) {
        if (t < n_tok) {
            tokens<D, R, T - 1>(nb, xs, as + t * nb, n_tok - t, out + t * out_stride, out_stride);
        }
    }
}

// Scratch bytes of dot_tile<D, R, T>: R decoded rows and n_tok tokens, per unit.
template <typename D, int R>
uint64_t scratch_bytes(int64_t n, int64_t n_tok) {
    return static_cast<uint64_t>(n / D::k_unit) *
           (R * sizeof(typename D::decoded) + static_cast<uint64_t>(n_tok) * sizeof(typename D::act));
}

// out[t * out_stride + r] = dot(row r, token t) for a type with decoded kernel D, rows in
// groups of R and tokens in groups of T (the rest with smaller T); scratch:
// scratch_bytes<D, R>(n, n_tok) bytes, 64-byte aligned. Worth it from about 2T tokens.
template <typename D, int R, int T>
void dot_tile(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, uint64_t act_stride,
              int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    using decoded    = typename D::decoded;
    using act_t      = typename D::act;
    const int64_t nb = n / D::k_unit;
    auto *        xs = static_cast<decoded *>(scratch);
    auto *        as = reinterpret_cast<act_t *>(xs + nb * R);
    const auto *  ab = static_cast<const uint8_t *>(act);
    for (int64_t t = 0; t < n_tok; ++t) {
        const auto * y = reinterpret_cast<const typename D::a_unit *>(ab + static_cast<uint64_t>(t) * act_stride);
        for (int64_t b = 0; b < nb; ++b) {
            as[t * nb + b].load(y[b]);
        }
    }
    const auto * wb          = static_cast<const uint8_t *>(w);
    const auto   os          = static_cast<int64_t>(out_stride);
    auto         decode_rows = [&](int64_t r0, int rows) {
        for (int64_t b = 0; b < nb; ++b) {
            for (int i = 0; i < rows; ++i) {
                const auto * x =
                    reinterpret_cast<const typename D::w_unit *>(wb + static_cast<uint64_t>(r0 + i) * stride);
                D::decode(x[b], xs[b * rows + i]);
            }
        }
    };
    // The next group's rows are fetched while this group's tiles compute, a few lines after
    // each tile: the decode reads weights in a burst and would otherwise wait on memory for
    // each group, and a burst of prefetches overflows the core's miss buffers.
    const int64_t lines_per_row = (nb * static_cast<int64_t>(sizeof(typename D::w_unit)) + 63) / 64;
    const int64_t n_tiles       = n_tok / T;
    int64_t       r             = 0;
    for (; r + R <= n_rows; r += R) {
        decode_rows(r, R);
        const int64_t next_rows = std::min<int64_t>(R, n_rows - (r + R));
        const int64_t lines = next_rows * lines_per_row, per_tile = n_tiles > 0 ? (lines + n_tiles - 1) / n_tiles : 0;
        int64_t       line = 0;
        for (int64_t t = 0; t < n_tiles; ++t) {
            D::template tile<R, T>(nb, xs, as + t * T * nb, out + r + t * T * os, os);
            for (const int64_t end = std::min(lines, line + per_tile); line < end; ++line) {
                const auto * row = wb + static_cast<uint64_t>(r + R + line / lines_per_row) * stride;
                _mm_prefetch(reinterpret_cast<const char *>(row + 64 * (line % lines_per_row)), _MM_HINT_T0);
            }
        }
        if (n_tiles * T < n_tok) {
            tokens<D, R, T - 1>(nb, xs, as + n_tiles * T * nb, n_tok - n_tiles * T, out + r + n_tiles * T * os, os);
        }
    }
    for (; r < n_rows; ++r) {
        decode_rows(r, 1);
        tokens<D, 1, T>(nb, xs, as, n_tok, out + r, os);
    }
}

}  // namespace decoded
}  // namespace
}  // namespace sluice::kern
#endif
