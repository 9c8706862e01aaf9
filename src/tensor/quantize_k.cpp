// The K-quant quantizers. Two families, two stages per super-block of 256:
//   affine   x ~= scale * q - min, q in 0..levels: Q2_K (16 sub-blocks of 16, 2 bits, 4-bit
//            scales), Q4_K (8 of 32, 4 bits, 6-bit scales), Q5_K (8 of 32, 5 bits, 6-bit scales);
//   symmetric x ~= scale * q, q in lo..hi: Q3_K (16 of 16, -4..3, 6-bit signed scales), Q6_K
//            (16 of 16, -32..31, 8-bit signed scales).
//   1. each sub-block gets a float scale (and min) by a small search: a couple of grid
//      spacings around range / levels, each refined by alternating least squares (fit the
//      scale/min to the codes, re-round the codes to the fit) -- unweighted, so plain MSE;
//   2. the sub-block scales are stored as small integer multiples of fp16 super-block scales.
//      Rounding them costs accuracy, so each sub-block then re-chooses its integer scale (and
//      min) among neighbours of the rounded one, measuring the error of the values exactly as
//      dequantize_row will reproduce them.
// The bytes differ from llama.cpp's quantizer; the round-trip error is comparable (the tests
// compare it with the reference's on the fixture, type by type). The search is small and its
// loops branch-free so they vectorise: ~90 MB/s of F32 input per thread for Q4_K, ~85 for Q6_K
// (from ~9 and ~7 with 11 x 3 starts and a 5 x 5 neighbourhood, at a round-trip error at most
// 3% higher; the fixture allows 5% over llama.cpp's).
#include "tensor/quantize_k.h"

#include "tensor/blocks.h"
#include "util/half.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <span>

namespace sluice {
namespace {

constexpr int k_max_sub = 32;  // the largest sub-block

// Nearest integer to v (ties to even) clamped to [lo, hi], without branches so the loops over
// a sub-block vectorise: clamp first (NaN gives lo), then round by the 1.5 x 2^23 trick (exact
// for |v| < 2^22).
inline float round_clamped(float v, float lo, float hi) {
    constexpr float magic = 12582912.0f;
    v                     = std::min(hi, std::max(lo, v));
    return (v + magic) - magic;
}

// Stores f as fp16 at p and returns the value a reader will see.
float store_f16(uint8_t * p, float f) {
    const uint16_t h = f32_to_f16(f);
    std::memcpy(p, &h, sizeof h);
    return f16_to_f32(h);
}

// ---- affine: x ~= scale * q - min -------------------------------------------------------------

struct affine_format {
    int   sub;        // values per sub-block
    float levels;     // codes 0..levels
    int   scale_max;  // integer sub-block scales and mins 0..scale_max
    // The search: starting spacings (x range / levels) and least-squares rounds from each.
    std::span<const float> spacings;
    int                    rounds;
};

constexpr float         k_affine_spacings[] = {0.88f, 1.0f};
constexpr float         k_q2_spacings[]     = {0.9f};  // one start: 16 values, 4 levels; within the fixture's bound
constexpr affine_format k_q2{16, 3.0f, 15, k_q2_spacings, 2};
constexpr affine_format k_q4{32, 15.0f, 63, k_affine_spacings, 2};
constexpr affine_format k_q5{32, 31.0f, 63, k_affine_spacings, 2};

struct affine_fit {
    float scale = 0.0f;  // >= 0
    float min   = 0.0f;  // >= 0, subtracted
    float err   = std::numeric_limits<float>::infinity();
};

// Least-squares (scale, min) for given codes q, with min >= 0 (the format stores it unsigned).
affine_fit solve_affine(const float * x, const float * q, int n) {
    float sq = 0, sqq = 0, sx = 0, sxq = 0;  // <= 32 terms of small integers: float is enough
    for (int i = 0; i < n; ++i) {
        sq += q[i];
        sqq += q[i] * q[i];
        sx += x[i];
        sxq += x[i] * q[i];
    }
    affine_fit   f;
    const double det = double(n) * sqq - double(sq) * sq;
    double       a = 0, b = 0;  // x ~= a * q + b
    if (det > 0) {
        a = (double(n) * sxq - double(sx) * sq) / det;
        b = (sx - a * sq) / n;
    }
    if (det <= 0 || b > 0 || a < 0) {  // constrained optimum: b = 0
        b = 0;
        a = sqq > 0 ? std::max(0.0, double(sxq) / sqq) : 0.0;
    }
    f.scale        = static_cast<float>(a);
    f.min          = static_cast<float>(-b);
    const float af = f.scale, bf = -f.min;
    float       err = 0;
    for (int i = 0; i < n; ++i) {
        const float e = af * q[i] + bf - x[i];
        err += e * e;
    }
    f.err = err;
    return f;
}

affine_fit fit_affine_sub(const float * x, const affine_format & fmt) {
    float lo = 0.0f, hi = x[0];
    for (int i = 0; i < fmt.sub; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
    }
    affine_fit best;
    if (!(hi > lo)) {  // constant (or all <= 0 and equal): the min alone represents it
        best.scale = 0.0f;
        best.min   = -lo;
        best.err   = 0.0f;
        return best;
    }
    const float base = (hi - lo) / fmt.levels;
    float       q[k_max_sub];
    for (const float spacing : fmt.spacings) {  // smaller spacings clip the extremes to resolve the bulk
        float scale = base * spacing;
        float min   = -lo;
        for (int round = 0; round < fmt.rounds; ++round) {
            const float inv = scale > 0 ? 1.0f / scale : 0.0f;
            for (int i = 0; i < fmt.sub; ++i) {
                q[i] = round_clamped((x[i] + min) * inv, 0.0f, fmt.levels);
            }
            const affine_fit f = solve_affine(x, q, fmt.sub);
            if (f.err < best.err) {
                best = f;
            }
            if (!(f.scale > 0)) {
                break;
            }
            scale = f.scale;
            min   = f.min;
        }
    }
    return best;
}

// Squared error of sub-block x coded with integer scale ls and min lm under super-block
// scales d, dmin; codes go to q. Uses dequantize_row's arithmetic: d1 * q - m1.
float affine_error(const float * x, const affine_format & fmt, float d, float dmin, int ls, int lm, uint8_t * q) {
    const float d1  = d * static_cast<float>(ls);
    const float m1  = dmin * static_cast<float>(lm);
    const float inv = d1 > 0 ? 1.0f / d1 : 0.0f;
    float       err = 0.0f;
    for (int i = 0; i < fmt.sub; ++i) {
        const float r = round_clamped((x[i] + m1) * inv, 0.0f, fmt.levels);
        q[i]          = static_cast<uint8_t>(r);
        const float e = d1 * r - m1 - x[i];
        err += e * e;
    }
    return err;
}

// Codes L[QK_K], integer scales ls and mins lm per sub-block, and the fp16 super-block scale
// and min (stored at d_at and dmin_at) of one affine super-block.
void affine_codes(const float * x, const affine_format & fmt, uint8_t * d_at, uint8_t * dmin_at, uint8_t * ls,
                  uint8_t * lm, uint8_t * L) {
    const int  n_sub = QK_K / fmt.sub;
    affine_fit fits[QK_K / 16];
    float      max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < n_sub; ++j) {
        fits[j]   = fit_affine_sub(x + fmt.sub * j, fmt);
        max_scale = std::max(max_scale, fits[j].scale);
        max_min   = std::max(max_min, fits[j].min);
    }
    const float top  = static_cast<float>(fmt.scale_max);
    const float d    = store_f16(d_at, max_scale / top);
    const float dmin = store_f16(dmin_at, max_min / top);
    for (int j = 0; j < n_sub; ++j) {
        const float * xs   = x + fmt.sub * j;
        const int     ls0  = d > 0 ? static_cast<int>(round_clamped(fits[j].scale / d, 0.0f, top)) : 0;
        const int     lm0  = dmin > 0 ? static_cast<int>(round_clamped(fits[j].min / dmin, 0.0f, top)) : 0;
        float         best = std::numeric_limits<float>::infinity();
        uint8_t       q[k_max_sub];
        ls[j] = static_cast<uint8_t>(ls0);  // NaN input keeps these and zero codes
        lm[j] = static_cast<uint8_t>(lm0);
        std::memset(L + fmt.sub * j, 0, static_cast<size_t>(fmt.sub));
        // the rounded pair and one step of either (a step of both rarely wins)
        const int moves[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};
        for (const auto & mv : moves) {
            const int a = ls0 + mv[0], b = lm0 + mv[1];
            if (a < 0 || a > fmt.scale_max || b < 0 || b > fmt.scale_max) {
                continue;
            }
            const float err = affine_error(xs, fmt, d, dmin, a, b, q);
            if (err < best) {
                best  = err;
                ls[j] = static_cast<uint8_t>(a);
                lm[j] = static_cast<uint8_t>(b);
                std::memcpy(L + fmt.sub * j, q, static_cast<size_t>(fmt.sub));
            }
        }
    }
}

// Q4_K and Q5_K's 6-bit scales and mins: sub-blocks 0..3 in the low 6 bits of bytes 0..3 /
// 4..7, 4..7 as nibbles of bytes 8..11 with their top 2 bits in the spare bits of bytes 0..7.
void pack_scales_k4(const uint8_t * ls, const uint8_t * lm, uint8_t * s) {
    std::memset(s, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j]     = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
            s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((ls[j] >> 4) << 6));
            s[j]     = static_cast<uint8_t>(s[j] | ((lm[j] >> 4) << 6));
        }
    }
}

void quantize_q2_k_block(const float * x, uint8_t * y) {
    uint8_t L[QK_K], ls[16], lm[16];
    affine_codes(x, k_q2, y + offsetof(block_q2_K, d), y + offsetof(block_q2_K, dmin), ls, lm, L);
    uint8_t * sc = y + offsetof(block_q2_K, scales);
    for (int j = 0; j < 16; ++j) {
        sc[j] = static_cast<uint8_t>(ls[j] | (lm[j] << 4));
    }
    // per 128 values, 32 bytes: value 32 * p + l (p = 0..3) in bits 2p..2p+1 of byte l
    uint8_t * qs = y + offsetof(block_q2_K, qs);
    for (int c = 0; c < QK_K / 128; ++c) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t * Lc = L + 128 * c;
            qs[32 * c + l] = static_cast<uint8_t>(Lc[l] | (Lc[l + 32] << 2) | (Lc[l + 64] << 4) | (Lc[l + 96] << 6));
        }
    }
}

void quantize_q4_k_block(const float * x, uint8_t * y) {
    uint8_t L[QK_K], ls[8], lm[8];
    affine_codes(x, k_q4, y + offsetof(block_q4_K, d), y + offsetof(block_q4_K, dmin), ls, lm, L);
    pack_scales_k4(ls, lm, y + offsetof(block_q4_K, scales));
    // each 32 bytes of qs: 32 values in the low nibbles, the next 32 in the high ones
    uint8_t * qs = y + offsetof(block_q4_K, qs);
    for (int c = 0; c < QK_K / 64; ++c) {
        for (int l = 0; l < 32; ++l) {
            qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
        }
    }
}

void quantize_q5_k_block(const float * x, uint8_t * y) {
    uint8_t L[QK_K], ls[8], lm[8];
    affine_codes(x, k_q5, y + offsetof(block_q5_K, d), y + offsetof(block_q5_K, dmin), ls, lm, L);
    pack_scales_k4(ls, lm, y + offsetof(block_q5_K, scales));
    // the low 4 bits as Q4_K's; bit 4 of the values 64c + l and 64c + 32 + l in bits 2c and
    // 2c + 1 of qh[l]
    uint8_t * qs = y + offsetof(block_q5_K, qs);
    uint8_t * qh = y + offsetof(block_q5_K, qh);
    std::memset(qh, 0, QK_K / 8);
    for (int c = 0; c < QK_K / 64; ++c) {
        for (int l = 0; l < 32; ++l) {
            const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
            qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
            qh[l]          = static_cast<uint8_t>(qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
        }
    }
}

// ---- symmetric: x ~= scale * q -----------------------------------------------------------------

struct sym_format {
    int                    sub;                 // values per sub-block
    float                  q_lo, q_hi;          // codes
    int                    scale_lo, scale_hi;  // integer sub-block scales; the largest maps to scale_lo
    std::span<const float> spacings;
    int                    rounds;
};

constexpr float      k_sym_spacings[] = {1.0f, 1.06f};
constexpr sym_format k_q3{16, -4.0f, 3.0f, -32, 31, k_sym_spacings, 2};
constexpr sym_format k_q6{16, -32.0f, 31.0f, -128, 127, k_sym_spacings, 2};

float fit_sym_sub(const float * x, const sym_format & fmt) {
    float vmax = 0.0f, amax = 0.0f;
    for (int i = 0; i < fmt.sub; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            vmax = x[i];
        }
    }
    if (!(amax > 0)) {
        return 0.0f;
    }
    float best = 0.0f, best_err = std::numeric_limits<float>::infinity();
    float q[k_max_sub];
    // start from the extreme value on either end of the asymmetric code range, then
    // alternate least squares and re-rounding
    for (const float base : {vmax / fmt.q_lo, vmax / fmt.q_hi}) {
        for (const float spacing : fmt.spacings) {
            float scale = base * spacing;
            for (int round = 0; round < fmt.rounds; ++round) {
                const float inv = 1.0f / scale;
                float       sxq = 0, sqq = 0;
                for (int i = 0; i < fmt.sub; ++i) {
                    q[i] = round_clamped(x[i] * inv, fmt.q_lo, fmt.q_hi);
                    sxq += x[i] * q[i];
                    sqq += q[i] * q[i];
                }
                if (!(sqq > 0)) {
                    break;
                }
                const float a   = sxq / sqq;
                float       err = 0.0f;
                for (int i = 0; i < fmt.sub; ++i) {
                    const float e = a * q[i] - x[i];
                    err += e * e;
                }
                if (err < best_err) {
                    best_err = err;
                    best     = a;
                }
                if (a == 0.0f) {
                    break;
                }
                scale = a;
            }
        }
    }
    return best;
}

// Squared error of sub-block x coded with integer scale ls under super-block scale d; codes
// (offset by -q_lo, so unsigned) go to L. Uses dequantize_row's arithmetic: (d * ls) * q.
float sym_error(const float * x, const sym_format & fmt, float d, int ls, uint8_t * L) {
    const float d1  = d * static_cast<float>(ls);
    const float inv = d1 != 0.0f ? 1.0f / d1 : 0.0f;
    float       err = 0.0f;
    for (int i = 0; i < fmt.sub; ++i) {
        const float q = round_clamped(x[i] * inv, fmt.q_lo, fmt.q_hi);
        L[i]          = static_cast<uint8_t>(static_cast<int>(q - fmt.q_lo));
        const float e = d1 * q - x[i];
        err += e * e;
    }
    return err;
}

// Codes L[QK_K] (offset by -q_lo), integer scales sc per sub-block and the fp16 super-block
// scale (stored at d_at) of one symmetric super-block.
void sym_codes(const float * x, const sym_format & fmt, uint8_t * d_at, int * sc, uint8_t * L) {
    const int n_sub = QK_K / fmt.sub;
    float     scales[QK_K / 16];
    float     max_scale = 0.0f;  // signed scale of largest magnitude
    for (int j = 0; j < n_sub; ++j) {
        scales[j] = fit_sym_sub(x + fmt.sub * j, fmt);
        if (std::fabs(scales[j]) > std::fabs(max_scale)) {
            max_scale = scales[j];
        }
    }
    // the largest scale maps to scale_lo, the one end a signed integer reaches the other does not
    const float d  = store_f16(d_at, max_scale / static_cast<float>(fmt.scale_lo));
    const float lo = static_cast<float>(fmt.scale_lo), hi = static_cast<float>(fmt.scale_hi);
    for (int j = 0; j < n_sub; ++j) {
        const float * xs   = x + fmt.sub * j;
        const int     ls0  = d != 0.0f ? static_cast<int>(round_clamped(scales[j] / d, lo, hi)) : 0;
        float         best = std::numeric_limits<float>::infinity();
        uint8_t       q[k_max_sub];
        sc[j] = 0;
        std::memset(L + fmt.sub * j, static_cast<int>(-fmt.q_lo), static_cast<size_t>(fmt.sub));
        for (int a = std::max(fmt.scale_lo, ls0 - 1); a <= std::min(fmt.scale_hi, ls0 + 1); ++a) {
            const float err = sym_error(xs, fmt, d, a, q);
            if (err < best) {
                best  = err;
                sc[j] = a;
                std::memcpy(L + fmt.sub * j, q, static_cast<size_t>(fmt.sub));
            }
        }
    }
}

void quantize_q3_k_block(const float * x, uint8_t * y) {
    uint8_t L[QK_K];  // v + 4, v in -4..3
    int     sc[16];
    sym_codes(x, k_q3, y + offsetof(block_q3_K, d), sc, L);
    // 6-bit scales biased by 32: the low 4 bits of scale j in byte j % 8 (low nibble for j < 8,
    // high for j >= 8), the high 2 bits in byte 8 + j % 4 at bits 2 * (j / 4)
    uint8_t * s = y + offsetof(block_q3_K, scales);
    std::memset(s, 0, 12);
    for (int j = 0; j < 16; ++j) {
        const int b  = sc[j] + 32;
        s[j % 8]     = static_cast<uint8_t>(s[j % 8] | ((b & 0x0f) << (j < 8 ? 0 : 4)));
        s[8 + j % 4] = static_cast<uint8_t>(s[8 + j % 4] | ((b >> 4) << (2 * (j / 4))));
    }
    // the low 2 bits of v + 4 as Q2_K's codes; hmask bit 4c + p of byte l set when v >= 0
    // for value 128c + 32p + l
    uint8_t * qs = y + offsetof(block_q3_K, qs);
    uint8_t * hm = y + offsetof(block_q3_K, hmask);
    std::memset(hm, 0, QK_K / 8);
    for (int c = 0; c < QK_K / 128; ++c) {
        for (int l = 0; l < 32; ++l) {
            uint8_t packed = 0;
            for (int p = 0; p < 4; ++p) {
                const int u = L[128 * c + 32 * p + l];
                packed      = static_cast<uint8_t>(packed | ((u & 3) << (2 * p)));
                hm[l]       = static_cast<uint8_t>(hm[l] | ((u >> 2) << (4 * c + p)));
            }
            qs[32 * c + l] = packed;
        }
    }
}

void quantize_q6_k_block(const float * x, uint8_t * y) {
    uint8_t L[QK_K];  // q + 32
    int     sc[16];
    sym_codes(x, k_q6, y + offsetof(block_q6_K, d), sc, L);
    auto * scales = reinterpret_cast<int8_t *>(y + offsetof(block_q6_K, scales));
    for (int j = 0; j < 16; ++j) {
        scales[j] = static_cast<int8_t>(sc[j]);
    }
    // per 128 values: low nibbles of values l and l+64 share ql[l], of l+32 and l+96 share
    // ql[l+32]; qh[l] holds the top 2 bits of l, l+32, l+64, l+96
    uint8_t * ql = y + offsetof(block_q6_K, ql);
    uint8_t * qh = y + offsetof(block_q6_K, qh);
    for (int c = 0; c < QK_K / 128; ++c, ql += 64, qh += 32) {
        const uint8_t * Lc = L + 128 * c;
        for (int l = 0; l < 32; ++l) {
            const int a = Lc[l], b = Lc[l + 32], e = Lc[l + 64], f = Lc[l + 96];
            ql[l]      = static_cast<uint8_t>((a & 0x0f) | ((e & 0x0f) << 4));
            ql[l + 32] = static_cast<uint8_t>((b & 0x0f) | ((f & 0x0f) << 4));
            qh[l]      = static_cast<uint8_t>((a >> 4) | ((b >> 4) << 2) | ((e >> 4) << 4) | ((f >> 4) << 6));
        }
    }
}

template <void (*block_fn)(const float *, uint8_t *), size_t block_bytes>
void quantize_blocks(const float * x, uint8_t * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        block_fn(x + QK_K * i, y + block_bytes * i);
    }
}

}  // namespace

void quantize_q2_k(const float * x, uint8_t * y, int64_t nb) {
    quantize_blocks<quantize_q2_k_block, sizeof(block_q2_K)>(x, y, nb);
}
void quantize_q3_k(const float * x, uint8_t * y, int64_t nb) {
    quantize_blocks<quantize_q3_k_block, sizeof(block_q3_K)>(x, y, nb);
}
void quantize_q4_k(const float * x, uint8_t * y, int64_t nb) {
    quantize_blocks<quantize_q4_k_block, sizeof(block_q4_K)>(x, y, nb);
}
void quantize_q5_k(const float * x, uint8_t * y, int64_t nb) {
    quantize_blocks<quantize_q5_k_block, sizeof(block_q5_K)>(x, y, nb);
}
void quantize_q6_k(const float * x, uint8_t * y, int64_t nb) {
    quantize_blocks<quantize_q6_k_block, sizeof(block_q6_K)>(x, y, nb);
}

}  // namespace sluice
