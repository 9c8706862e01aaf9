// AVX-512 "row lanes" kernels: sixteen weight rows side by side, one row per int32 / float lane,
// so that a block's integer dot product is finished per row before its single float step:
//
//   acc[row] = fma(float(isum_b), dw_b * da_b, acc[row])   for blocks b = 0, 1, ... in order
//   out[row] = acc[row]                                   (no horizontal reduction)
//
// (Q4_K / Q5_K: two float steps per super-block, one for the scales and one for the mins; Q6_K
// one, its -32 offset folded into the integer sum.)
// The integer part is exact however it is computed, so the two kernels below give the same bits:
//   dot_rows (one token): loads the rows' block the way a one-row kernel would, vpdpbusd (or
//     the K-quant decode of avx512_k_blocks.h) against the token's block, and reduces each row's
//     lanes in integers (an even/odd tree over the 16 rows);
//   dot_tile (many tokens): repacks the 16 rows once per call so that zmm k holds bytes
//     4k..4k+3 of every row's block, then a token's block is a run of vpdpbusd whose activation
//     dword comes broadcast from memory: 64 multiply-adds per instruction and one float step
//     per 16 rows, where a tile that keeps rows in registers and reduces across lanes pays a
//     float step per 4-code lane. Two groups of 16 rows can share each broadcast. Kernel lab,
//     one thread, 64 tokens (bench/gemm_bench.cpp --copies 16), same run: Q4_K 473-500 GFLOP/s
//     against 218-262 for the decoded 4 x 4 register tile it replaced, Q8_0 270-295 against
//     180; two groups then added 3-10%.
// Types: the 32-code blocks with Q8_0 activations (Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4), whose
// signed codes are offset to unsigned for vpdpbusd (the -shift * sum(a) of each token's block
// puts the offset back, exactly), and Q4_K / Q5_K / Q6_K, whose codes are unsigned already.
//
// Packed at load: each kind also has a size-neutral stored form of a group's block (codes
// transposed, scales side by side), which matrices packed at load hold (kernels.h:
// pack_matrix_rows; Q8_0 and the K-quants) and dot_packed computes from without the repack:
// in the kernel lab (--copies 16, one thread) 1.0-1.34x dot_tile at 8 and 64 tokens, and in
// sluice bench on the padded models pp64 1.5-2.2x, decode 1.05-1.3x (experts in anonymous
// memory, one stream per group).
//
// This file holds what every type shares: the 16-row group, the lane reductions and transposes,
// the one-token group loop and the many-token driver. The types are avx512_lanes_q32.h and
// avx512_lanes_k.h. Included through those by avx512_dot.cpp, avx512_dot_k.cpp and the kernel
// lab; everything lives in an unnamed namespace.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/avx512_k_blocks.h"
#include "kernels/x86/x86_common.h"

#include <algorithm>

namespace sluice::kern {
namespace {
namespace lanes {

using namespace x86;

constexpr int k_rows = 16;  // rows per group: one per 32-bit lane

// From this many tokens dot_tile repacks; below it runs dot_rows token by token. Kernel lab
// (--copies 32, repack against dot_rows per token): at 4 tokens 0.57-1.26x, at 5 0.63-1.22x,
// at 6 1.15-1.76x for Q8_0, Q4_K and Q6_K.
constexpr int64_t k_min_tokens = 6;

// The even / odd 32-bit lanes of (a, b): lanes 0..7 from a, 8..15 from b.
inline __m512i even_lanes(__m512i a, __m512i b) {
    return _mm512_permutex2var_epi32(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                                     b);
}
inline __m512i odd_lanes(__m512i a, __m512i b) {
    return _mm512_permutex2var_epi32(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),
                                     b);
}

// Sums the lanes of each row: z[0..N) hold the 16 rows in order, 16 / N rows per register and
// N lanes per row; lane i of the result is row i's sum (exact, in integers).
template <int N>
inline __m512i sum_row_lanes(__m512i * z) {
    for (int m = N; m > 1; m /= 2) {
        for (int i = 0; i < m / 2; ++i) {
            z[i] = _mm512_add_epi32(even_lanes(z[2 * i], z[2 * i + 1]), odd_lanes(z[2 * i], z[2 * i + 1]));
        }
    }
    return z[0];
}

// The 16 x 8 dword transpose in three even / odd levels: z[k] holds rows 2k (lanes 0..7) and
// 2k+1 (lanes 8..15), eight dwords each; out[c] lane i = dword c of row i.
inline void transpose_16x8(const __m512i (&z)[8], __m512i * out) {
    // Level 1: rows 4j..4j+3, columns {0,2,4,6} (e) and {1,3,5,7} (o).
    __m512i e[4], o[4];
    for (int j = 0; j < 4; ++j) {
        e[j] = even_lanes(z[2 * j], z[2 * j + 1]);
        o[j] = odd_lanes(z[2 * j], z[2 * j + 1]);
    }
    // Level 2: rows 8h..8h+7, column pairs {0,4} {2,6} {1,5} {3,7}.
    __m512i c04[2], c26[2], c15[2], c37[2];
    for (int h = 0; h < 2; ++h) {
        c04[h] = even_lanes(e[2 * h], e[2 * h + 1]);
        c26[h] = odd_lanes(e[2 * h], e[2 * h + 1]);
        c15[h] = even_lanes(o[2 * h], o[2 * h + 1]);
        c37[h] = odd_lanes(o[2 * h], o[2 * h + 1]);
    }
    // Level 3: one column for all 16 rows.
    out[0] = even_lanes(c04[0], c04[1]);
    out[4] = odd_lanes(c04[0], c04[1]);
    out[2] = even_lanes(c26[0], c26[1]);
    out[6] = odd_lanes(c26[0], c26[1]);
    out[1] = even_lanes(c15[0], c15[1]);
    out[5] = odd_lanes(c15[0], c15[1]);
    out[3] = even_lanes(c37[0], c37[1]);
    out[7] = odd_lanes(c37[0], c37[1]);
}

// The 16 rows of a group: row i at x + off[i] (rows past the matrix repeat its last row, their
// lanes are never stored), and the mask of the real ones.
struct row_group {
    const uint8_t * x;
    uint64_t        stride;
    int             n;    // real rows, 1..16
    __m512i         off;  // byte offset of each row from x, int32
    uint16_t        mask() const { return static_cast<uint16_t>((1u << n) - 1u); }
    const uint8_t * row(int i) const { return x + static_cast<uint64_t>(std::min(i, n - 1)) * stride; }
    row_group(const uint8_t * w, uint64_t row_stride, int rows) : x(w), stride(row_stride), n(rows) {
        alignas(64) int32_t o[k_rows];
        for (int i = 0; i < k_rows; ++i) {
            o[i] = static_cast<int32_t>(static_cast<uint64_t>(std::min(i, rows - 1)) * row_stride);
        }
        off = _mm512_load_si512(o);
    }
};

// t[k] lane i = dword k of the 32 bytes at byte `at` of row i of the group.
inline void transposed_rows32(const row_group & g, uint64_t at, __m512i (&t)[8]) {
    __m512i z[8];
    for (int k = 0; k < 8; ++k) {
        z[k] = kblocks::join256(kblocks::ld256(g.row(2 * k) + at), kblocks::ld256(g.row(2 * k + 1) + at));
    }
    transpose_16x8(z, t);
}

// t[c] lane i = dword c of the 16 bytes at byte `at` of row i of the group: rows 4j..4j+3 one
// per 128-bit lane of z[j], then two levels of two-source permutes. In place of four dword
// gathers: packing Q4_K in place from memory, one thread, 80-83 -> 62-68 us per 768 x 2048
// matrix, alternating.
inline void transposed_rows16(const row_group & g, uint64_t at, __m512i (&t)[4]) {
    __m512i z[4];
    for (int j = 0; j < 4; ++j) {
        const auto r = [&](int i) { return reinterpret_cast<const __m128i *>(g.row(4 * j + i) + at); };
        z[j]         = _mm512_castsi128_si512(_mm_loadu_si128(r(0)));
        z[j]         = _mm512_inserti32x4(z[j], _mm_loadu_si128(r(1)), 1);
        z[j]         = _mm512_inserti32x4(z[j], _mm_loadu_si128(r(2)), 2);
        z[j]         = _mm512_inserti32x4(z[j], _mm_loadu_si128(r(3)), 3);
    }
    // h[2p + q] (p: rows 0-7 or 8-15, q: dwords 0-1 or 2-3): lanes 0..7 dword 2q of the 8
    // rows, lanes 8..15 dword 2q + 1.
    const __m512i lo = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i hi = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    __m512i       h[4];
    for (int p = 0; p < 2; ++p) {
        h[2 * p]     = _mm512_permutex2var_epi32(z[2 * p], lo, z[2 * p + 1]);
        h[2 * p + 1] = _mm512_permutex2var_epi32(z[2 * p], hi, z[2 * p + 1]);
    }
    const __m512i first  = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int q = 0; q < 2; ++q) {
        t[2 * q]     = _mm512_permutex2var_epi32(h[q], first, h[2 + q]);
        t[2 * q + 1] = _mm512_permutex2var_epi32(h[q], second, h[2 + q]);
    }
}

// One token's pass reads 16 rows side by side, 16 streams the hardware prefetchers do not
// follow: while it reads block b of this group, block b of the next group's rows is fetched
// (the next group starts right after this one; prefetches past the matrix never fault). In the
// kernel lab (--copies 64, one token) this ran about 1.5x faster than fetching each row a few
// blocks ahead, and 2x faster than no prefetch.
template <int bytes>
inline void prefetch_next_group(const row_group & g, uint64_t at) {
    const uint8_t * next = g.x + k_rows * g.stride + at;
    for (int i = 0; i < k_rows; ++i) {
        prefetch_ahead<bytes>(next, static_cast<uint64_t>(i) * g.stride);
    }
}

// One token over n_rows rows, 16 at a time: acc = step(group, b, acc) for the nb blocks in order,
// each block's bytes of the next group fetched first, then the group's real rows stored to out.
template <int block_bytes, typename Step>
inline void dot_rows_by_group(int64_t nb, const void * w, uint64_t stride, int64_t n_rows, float * out, Step step) {
    for (int64_t r = 0; r < n_rows; r += k_rows) {
        const row_group g(static_cast<const uint8_t *>(w) + static_cast<uint64_t>(r) * stride, stride,
                          static_cast<int>(std::min<int64_t>(k_rows, n_rows - r)));
        __m512          acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            prefetch_next_group<block_bytes>(g, static_cast<uint64_t>(b) * block_bytes);
            acc = step(g, b, acc);
        }
        _mm512_mask_storeu_ps(out + r, g.mask(), acc);
    }
}

// The tiles' accumulators: zero, and stored to out[t * out_stride + 16 g + i] for the real
// rows (those of the last group under `mask`).
template <int G, int T>
inline void zero(__m512 (&acc)[G][T]) {
    for (int g = 0; g < G; ++g) {
        for (int t = 0; t < T; ++t) {
            acc[g][t] = _mm512_setzero_ps();
        }
    }
}
template <int G, int T>
inline void store_rows(const __m512 (&acc)[G][T], uint16_t mask, float * out, int64_t out_stride) {
    for (int g = 0; g < G; ++g) {
        for (int t = 0; t < T; ++t) {
            _mm512_mask_storeu_ps(out + t * out_stride + k_rows * g, g == G - 1 ? mask : uint16_t{0xffff}, acc[g][t]);
        }
    }
}

// Independent integer sums a tile keeps per (group, token) so that at least four vpdpbusd
// chains run at once: a tile of one token and one or two groups (decode on a packed matrix)
// otherwise waits on each instruction's latency. Integer sums, so the split changes no bit.
constexpr int chains_per_sum(int tile_sums) {
    return tile_sums >= 4 ? 1 : tile_sums >= 2 ? 2 : 4;
}

// s[0] += s[1] + ... + s[P - 1] for every (group, token).
template <int P, int G, int T>
inline void add_chains(__m512i (&s)[P][G][T]) {
    for (int p = 1; p < P; ++p) {
        for (int g = 0; g < G; ++g) {
            for (int t = 0; t < T; ++t) {
                s[0][g][t] = _mm512_add_epi32(s[0][g][t], s[p][g][t]);
            }
        }
    }
}

// ---- the many-token drivers, one for every kind K ----
// A kind K has two forms of a group's block b: K::stored, size-neutral (16 x sizeof(w_block)
// bytes: the rows' codes transposed as the tile reads them, their scales side by side), and
// K::packed, what the tile reads (codes split to bytes, scales unpacked to lanes). dot_tile
// stores and unpacks each group once per call into its scratch; a matrix packed at load
// (pack_rows) holds the stored form, and dot_packed unpacks a block into an L1 buffer as it
// reaches it, once per tile of tokens. The tile gets its units from a source U:
// U(b, x) points x[g] at group g's unpacked block b.

// Units unpacked once per call: group g's block b at xs[g * nb + b].
template <typename K, int G>
struct scratch_units {
    using unit = typename K::packed;
    const typename K::packed * xs;
    int64_t                    nb;
    void                       operator()(int64_t b, const typename K::packed * (&x)[G]) const {
                              for (int g = 0; g < G; ++g) {
                                  x[g] = xs + g * nb + b;
        }
    }
};

// Units of a matrix packed at load that the tile reads from an L1 buffer: group g's stored
// block b at xs[g * nb + b], made into buf[g] by `prepare` when the tile reaches it.
template <typename K, int G, typename Unit, void (*prepare)(const typename K::stored &, Unit &)>
struct buffered_units {
    using unit = Unit;
    const typename K::stored * xs;
    int64_t                    nb;
    Unit *                     buf;
    void                       operator()(int64_t b, const Unit * (&x)[G]) const {
                              for (int g = 0; g < G; ++g) {
                                  prefetch_ahead<sizeof(typename K::stored)>(xs + g * nb + b + 2, 0);
                                  prepare(xs[g * nb + b], buf[g]);
                                  x[g] = &buf[g];
        }
    }
};

// The block unpacked whole.
template <typename K, int G>
using stored_units = buffered_units<K, G, typename K::packed, K::unpack>;
// A kind with K::scaled: the tile reads the codes in place, the block's scales unpacked.
template <typename K, int G>
using scaled_units = buffered_units<K, G, typename K::scaled, K::unpack_scales>;

// Units a tile reads as stored (a kind whose tile reads K::stored itself: Q8_0's stored
// form is its packed form with F16 scales): group g's block b at xs[g * nb + b], the block
// `ahead` blocks on fetched first. The first tile of a group streams the blocks from memory
// with these fetches running ahead; the later tiles find them in L2 (a pair of groups of a
// 2048-wide row is 70 KiB, more than L1) and the fetches bring them to L1 before use.
template <typename K, int G>
struct direct_units {
    using unit                       = typename K::stored;
    static constexpr int64_t   ahead = 8;
    const typename K::stored * xs;
    int64_t                    nb;
    void                       operator()(int64_t b, const typename K::stored * (&x)[G]) const {
                              for (int g = 0; g < G; ++g) {
                                  prefetch_ahead<sizeof(typename K::stored)>(xs + g * nb + b + ahead, 0);
                                  x[g] = xs + g * nb + b;
        }
    }
};

// Tokens [0, n_tok) in tiles of T, the rest with smaller T.
template <typename K, int T, int G, typename U>
inline void tokens(int64_t nb, const U & units, const uint8_t * act, uint64_t act_stride,
                   const typename K::token_block * tb, int64_t n_tok, uint16_t mask, float * out, int64_t out_stride) {
    int64_t t = 0;
    for (; t + T <= n_tok; t += T) {
        K::template tile<T, G>(nb, units, act + static_cast<uint64_t>(t) * act_stride, act_stride, tb + t * nb, mask,
                               out + t * out_stride, out_stride);
    }
    if constexpr (T > 1) {
        if (t < n_tok) {
            tokens<K, T - 1, G>(nb, units, act + static_cast<uint64_t>(t) * act_stride, act_stride, tb + t * nb,
                                n_tok - t, mask, out + t * out_stride, out_stride);
        }
    }
}

// Every token's per-block constants, laid out at tb[t * nb + b].
template <typename K>
inline void token_blocks(int64_t nb, const uint8_t * act, uint64_t act_stride, int64_t n_tok,
                         typename K::token_block * tb) {
    for (int64_t t = 0; t < n_tok; ++t) {
        const auto * y = reinterpret_cast<const typename K::a_block *>(act + static_cast<uint64_t>(t) * act_stride);
        for (int64_t b = 0; b < nb; ++b) {
            tb[t * nb + b] = K::token(y[b]);
        }
    }
}

// run<g>(r) for rows [r, r + 16 g) as g groups: two at a time where G is 2 (a last group of
// 16 or fewer rows goes alone), else one.
template <int G, typename Run>
inline void for_groups(int64_t n_rows, const Run & run) {
    int64_t r = 0;
    if constexpr (G == 2) {
        for (; r + k_rows < n_rows; r += 2 * k_rows) {
            run.template operator()<2>(r);
        }
    }
    for (; r < n_rows; r += k_rows) {
        run.template operator()<1>(r);
    }
}

template <typename K>
inline bool repacks(int64_t n, int64_t n_tok) {
    return n_tok >= k_min_tokens && n % K::k_unit == 0;
}

// Scratch of dot_tile<K>: up to two groups' packed units and every token's constants.
template <typename K>
uint64_t tile_scratch(int64_t n, int64_t n_tok) {
    if (!repacks<K>(n, n_tok)) {
        return 0;
    }
    const auto nb = static_cast<uint64_t>(n / K::k_unit);
    return 2 * nb * sizeof(typename K::packed) + nb * static_cast<uint64_t>(n_tok) * sizeof(typename K::token_block);
}

// out[t * out_stride + r] = dot(row r, token t): rows are packed G groups of 16 at a time (two
// groups share each activation broadcast; a last group of 16 or fewer goes alone), then run
// against the tokens in tiles of T. Below k_min_tokens, dot_rows token by token.
template <typename K, void (*dot_rows)(int64_t, const void *, uint64_t, int64_t, const void *, float *),
          int T = K::tile_tokens, int G = K::tile_groups>
void dot_tile(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, uint64_t act_stride,
              int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    if (!repacks<K>(n, n_tok)) {
        dot_rows_per_token(dot_rows, n, w, stride, n_rows, act, act_stride, n_tok, out, out_stride);
        return;
    }
    using packed      = typename K::packed;
    using token_block = typename K::token_block;
    const int64_t nb  = n / K::k_unit;
    auto *        xs  = static_cast<packed *>(scratch);
    auto *        tb  = reinterpret_cast<token_block *>(xs + 2 * nb);
    const auto *  ab  = static_cast<const uint8_t *>(act);
    token_blocks<K>(nb, ab, act_stride, n_tok, tb);
    const auto *  wb            = static_cast<const uint8_t *>(w);
    const auto    os            = static_cast<int64_t>(out_stride);
    const int64_t lines_per_row = (nb * static_cast<int64_t>(sizeof(typename K::w_block)) + 63) / 64;
    const int64_t n_tiles       = n_tok / T;
    // Rows [r, r + 16 g) as g groups: packed, then every token.
    const auto run = [&]<int g>(int64_t r) {
        int rows = 0;
        for (int i = 0; i < g; ++i) {
            const row_group grp(wb + static_cast<uint64_t>(r + k_rows * i) * stride, stride,
                                static_cast<int>(std::min<int64_t>(k_rows, n_rows - r - k_rows * i)));
            for (int64_t b = 0; b < nb; ++b) {
                typename K::stored s;
                K::store(grp, b, s);
                K::unpack(s, xs[i * nb + b]);
            }
            rows += grp.n;
        }
        const auto                mask = static_cast<uint16_t>((1u << (rows - k_rows * (g - 1))) - 1u);
        const scratch_units<K, g> units{xs, nb};
        // The next rows are fetched a few lines after each tile (the pack reads them in a burst
        // and would otherwise wait on memory).
        const int64_t next_rows = std::clamp<int64_t>(n_rows - (r + k_rows * g), 0, k_rows * g);
        const int64_t lines = next_rows * lines_per_row, per_tile = n_tiles > 0 ? (lines + n_tiles - 1) / n_tiles : 0;
        int64_t       line = 0;
        for (int64_t i = 0; i < n_tiles; ++i) {
            K::template tile<T, g>(nb, units, ab + static_cast<uint64_t>(i * T) * act_stride, act_stride,
                                   tb + i * T * nb, mask, out + r + i * T * os, os);
            for (const int64_t end = std::min(lines, line + per_tile); line < end; ++line) {
                const uint8_t * row = wb + static_cast<uint64_t>(r + k_rows * g + line / lines_per_row) * stride;
                _mm_prefetch(reinterpret_cast<const char *>(row + 64 * (line % lines_per_row)), _MM_HINT_T0);
            }
        }
        if (n_tiles * T < n_tok) {
            tokens<K, T - 1, g>(nb, units, ab + static_cast<uint64_t>(n_tiles * T) * act_stride, act_stride,
                                tb + n_tiles * T * nb, n_tok - n_tiles * T, mask, out + r + n_tiles * T * os, os);
        }
    };
    for_groups<G>(n_rows, run);
}

// ---- matrices packed at load ----
// A packed matrix is its groups of 16 rows in order, each as its nb stored blocks: group g's
// block b at dst + (g * nb + b) * sizeof(K::stored), so group g starts 16 g rows' bytes in,
// as a plain matrix's row 16 g does. The last group's missing rows repeat its last row.

template <typename K>
void pack_rows(int64_t n, const void * w, uint64_t stride, int64_t n_rows, void * dst) {
    static_assert(sizeof(typename K::stored) == k_rows * sizeof(typename K::w_block),
                  "the stored form is size-neutral");
    const int64_t nb = n / K::k_unit;
    auto *        xs = static_cast<typename K::stored *>(dst);
    for (int64_t r = 0; r < n_rows; r += k_rows) {
        const row_group g(static_cast<const uint8_t *>(w) + static_cast<uint64_t>(r) * stride, stride,
                          static_cast<int>(std::min<int64_t>(k_rows, n_rows - r)));
        for (int64_t b = 0; b < nb; ++b) {
            // The next group's 16 row streams, as in dot_rows: packing a matrix in place
            // group by group from memory (pack_group_in_place, Q4_K 768 x 2048, one thread)
            // took 72-77 us so against 86 (62-68 us once the scales came without gathers).
            prefetch_next_group<sizeof(typename K::w_block)>(g, static_cast<uint64_t>(b) * sizeof(typename K::w_block));
            K::store(g, b, xs[(r / k_rows) * nb + b]);
        }
    }
}

// Whether dot_packed_tiles<K, T, .> unpacks each group into the scratch: tokens that fill more
// than one tile, of a kind whose tile does not read the stored form.
template <typename K, int T>
constexpr bool unpacks_groups(int64_t n_tok) {
    return n_tok > T && !K::tile_reads_stored;
}

// Scratch of dot_packed_tiles<K, T, .>: every token's constants, after two groups' unpacked
// blocks when it unpacks.
template <typename K, int T>
uint64_t packed_tiles_scratch(int64_t n, int64_t n_tok) {
    const auto nb = static_cast<uint64_t>(n / K::k_unit);
    return nb * static_cast<uint64_t>(n_tok) * sizeof(typename K::token_block) +
           (unpacks_groups<K, T>(n_tok) ? 2 * nb * sizeof(typename K::packed) : 0);
}

// dot_tile's contract on a packed matrix (w: its group of row 0, n_rows from there), for any
// n_tok >= 1: G groups at a time against the tokens in tiles of T. A kind whose tile reads the
// stored form (Q8_0) reads it in place, fetched ahead (direct_units). Otherwise tokens that
// fill more than one tile get each group unpacked once into the scratch; fewer read the codes
// in place with the block's scales unpacked (a kind with K::scaled: scaled_units) or unpack a
// block into an L1 buffer as the tile reaches it (stored_units), so the groups are read as one
// stream. In sluice bench on the padded Q8_0 model (pp512, per task, thread 0), reading in
// place ran tasks of 33-64 tokens at 347-381 GFLOP/s against 286 with the unpack, 5-8 tokens
// at 157 against 94: the unpack read each group from memory before any product began.
template <typename K, int T, int G>
void dot_packed_tiles(int64_t n, const void * w, uint64_t /*row_stride*/, int64_t n_rows, const void * act,
                      uint64_t act_stride, int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    using packed     = typename K::packed;
    const int64_t nb = n / K::k_unit;
    auto *        xu = static_cast<packed *>(scratch);
    auto *        tb = reinterpret_cast<typename K::token_block *>(unpacks_groups<K, T>(n_tok) ? xu + 2 * nb : xu);
    const auto *  ab = static_cast<const uint8_t *>(act);
    token_blocks<K>(nb, ab, act_stride, n_tok, tb);
    const auto *       xs = static_cast<const typename K::stored *>(w);
    const auto         os = static_cast<int64_t>(out_stride);
    alignas(64) packed buf[G];
    const auto         run = [&]<int g>(int64_t r) {
        const int                  last = static_cast<int>(std::min<int64_t>(k_rows, n_rows - r - k_rows * (g - 1)));
        const auto                 mask = static_cast<uint16_t>((1u << last) - 1u);
        const typename K::stored * x    = xs + (r / k_rows) * nb;
        if constexpr (K::tile_reads_stored) {
            tokens<K, T, g>(nb, direct_units<K, g>{x, nb}, ab, act_stride, tb, n_tok, mask, out + r, os);
        } else if (unpacks_groups<K, T>(n_tok)) {
            for (int64_t i = 0; i < g * nb; ++i) {
                K::unpack(x[i], xu[i]);
            }
            tokens<K, T, g>(nb, scratch_units<K, g>{xu, nb}, ab, act_stride, tb, n_tok, mask, out + r, os);
        } else if constexpr (requires { typename K::scaled; }) {
            alignas(64) typename K::scaled sbuf[G];
            tokens<K, T, g>(nb, scaled_units<K, g>{x, nb, sbuf}, ab, act_stride, tb, n_tok, mask, out + r, os);
        } else {
            tokens<K, T, g>(nb, stored_units<K, g>{x, nb, buf}, ab, act_stride, tb, n_tok, mask, out + r, os);
        }
    };
    for_groups<G>(n_rows, run);
}

// The packed kernel of kind K: up to K::few_tokens tokens (decode, and an expert's share of a
// short prompt) run one group of 16 rows at a time in tiles of K::few_tile_tokens, more run G
// groups at a time in tiles of T. With few tokens the weights' stream from memory is what
// costs: one group is one stream, and Q4_K / Q5_K read their codes in place in a single tile
// (no unpack). Kernel lab (--copies 160, so the copies exceed L3; one thread, GFLOP/s): Q4_K
// 8 tokens 357-388 in one tile of 12 against 213-226 in tiles of 6 with the unpack, 12 tokens
// 330-350 against 279-293 (from 16 on the many-token shape wins); Q8_0 2-12 tokens 1.0-1.3x;
// one token (decode, --copies 256) Q4_K 1.2-1.45x and Q5_K 1.5x dot_rows on the plain matrix,
// where two groups unpacked ran at 0.7-0.8x.
template <typename K, int T = K::tile_tokens, int G = K::tile_groups>
void dot_packed(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, const void * act, uint64_t act_stride,
                int64_t n_tok, float * out, uint64_t out_stride, void * scratch) {
    if (n_tok <= K::few_tokens) {
        dot_packed_tiles<K, K::few_tile_tokens, 1>(n, w, row_stride, n_rows, act, act_stride, n_tok, out, out_stride,
                                                   scratch);
    } else {
        dot_packed_tiles<K, T, G>(n, w, row_stride, n_rows, act, act_stride, n_tok, out, out_stride, scratch);
    }
}

// Scratch of dot_packed<K, T>.
template <typename K, int T = K::tile_tokens>
uint64_t packed_scratch(int64_t n, int64_t n_tok) {
    return n_tok <= K::few_tokens ? packed_tiles_scratch<K, K::few_tile_tokens>(n, n_tok)
                                  : packed_tiles_scratch<K, T>(n, n_tok);
}

}  // namespace lanes
}  // namespace
}  // namespace sluice::kern
#endif
