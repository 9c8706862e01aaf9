// Q4_K and Q6_K quantizers. Two stages per super-block of 256:
//   1. each sub-block gets a float scale (and min) by a small search: a few grid spacings
//      around range / levels, each refined by alternating least squares (fit scale/min to the
//      codes, re-round the codes to the fit) -- unweighted, so it minimises plain MSE;
//   2. the sub-block scales are stored as 6-bit (Q4_K) or 8-bit (Q6_K) multiples of fp16
//      super-block scales. Rounding them costs accuracy, so each sub-block then re-chooses its
//      integer scale among neighbours of the rounded one, measuring the error of the values
//      exactly as dequantize_row will reproduce them.
// The bytes differ from llama.cpp's quantizer; the round-trip error is comparable (the tests
// compare it with the reference's on the fixture). The search is kept small (2 starts x 2
// rounds, then one neighbour step) and its loops branch-free so they vectorise: ~90 MB/s of
// F32 input per thread for Q4_K, ~85 for Q6_K (from ~9 and ~7 with 11 x 3 starts and a 5 x 5
// neighbourhood, at a round-trip error at most 3% higher; the fixture allows 5% over llama.cpp's).
#include "tensor/quantize_k.h"

#include "tensor/blocks.h"
#include "util/half.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>

namespace sluice {
namespace {

// Nearest integer to v (ties to even) clamped to [lo, hi]; NaN gives lo.
int round_clamped(float v, int lo, int hi) {
    if (!(v > static_cast<float>(lo))) {
        return lo;
    }
    if (v >= static_cast<float>(hi)) {
        return hi;
    }
    return static_cast<int>(std::nearbyint(v));
}

// round_clamped without branches, so the loops over a sub-block vectorise: clamp first (NaN
// gives lo), then round to nearest even by the 1.5 x 2^23 trick (exact for |v| < 2^22).
inline float round_clamped_f(float v, float lo, float hi) {
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

// ---- Q4_K: x ~= scale * q - min, q in 0..15, sub-blocks of 32 --------------------------------

constexpr int Q4K_SUB    = 32;
constexpr int Q4K_LEVELS = 15;
// The scale search: starting spacings (x range / 15), least-squares rounds from each, and how
// far the 6-bit sub-block scale and min may move from their rounded values.
constexpr float k_q4_spacings[]    = {0.88f, 1.0f};
constexpr int   k_q4_iterations    = 2;
constexpr int   k_q4_requant_reach = 1;

struct affine_fit {
    float scale = 0.0f;  // >= 0
    float min   = 0.0f;  // >= 0, subtracted
    float err   = std::numeric_limits<float>::infinity();
};

// Least-squares (scale, min) for given codes q, with min >= 0 (the format stores it unsigned).
affine_fit solve_affine(const float * x, const float * q, int n) {
    float sq = 0, sqq = 0, sx = 0, sxq = 0;  // 32 terms of at most 15^2: float keeps them exact enough
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

void quantize_affine(const float * x, int n, float scale, float min, float * q) {
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    for (int i = 0; i < n; ++i) {
        q[i] = round_clamped_f((x[i] + min) * inv, 0.0f, Q4K_LEVELS);
    }
}

affine_fit fit_q4_sub(const float * x) {
    float lo = 0.0f, hi = x[0];
    for (int i = 0; i < Q4K_SUB; ++i) {
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
    const float base = (hi - lo) / Q4K_LEVELS;
    float       q[Q4K_SUB];
    // spacings around range / 15: smaller ones clip the extremes to resolve the bulk
    for (const float spacing : k_q4_spacings) {
        float scale = base * spacing;
        float min   = -lo;
        for (int iter = 0; iter < k_q4_iterations; ++iter) {
            quantize_affine(x, Q4K_SUB, scale, min, q);
            const affine_fit f = solve_affine(x, q, Q4K_SUB);
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
float q4_sub_error(const float * x, float d, float dmin, int ls, int lm, uint8_t * q) {
    const float d1  = d * static_cast<float>(ls);
    const float m1  = dmin * static_cast<float>(lm);
    const float inv = d1 > 0 ? 1.0f / d1 : 0.0f;
    float       err = 0.0f;
    for (int i = 0; i < Q4K_SUB; ++i) {
        const float r = round_clamped_f((x[i] + m1) * inv, 0.0f, Q4K_LEVELS);
        q[i]          = static_cast<uint8_t>(r);
        const float e = d1 * r - m1 - x[i];
        err += e * e;
    }
    return err;
}

void quantize_q4_k_block(const float * x, uint8_t * y) {
    constexpr int n_sub = QK_K / Q4K_SUB;
    affine_fit    fits[n_sub];
    float         max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < n_sub; ++j) {
        fits[j]   = fit_q4_sub(x + Q4K_SUB * j);
        max_scale = std::max(max_scale, fits[j].scale);
        max_min   = std::max(max_min, fits[j].min);
    }
    const float d    = store_f16(y + offsetof(block_q4_K, d), max_scale / 63);
    const float dmin = store_f16(y + offsetof(block_q4_K, dmin), max_min / 63);

    uint8_t L[QK_K];
    uint8_t ls[n_sub], lm[n_sub];
    for (int j = 0; j < n_sub; ++j) {
        const float * xs   = x + Q4K_SUB * j;
        const int     ls0  = d > 0 ? round_clamped(fits[j].scale / d, 0, 63) : 0;
        const int     lm0  = dmin > 0 ? round_clamped(fits[j].min / dmin, 0, 63) : 0;
        float         best = std::numeric_limits<float>::infinity();
        uint8_t       q[Q4K_SUB];
        const int     r = k_q4_requant_reach;
        for (int a = std::max(0, ls0 - r); a <= std::min(63, ls0 + r); ++a) {
            for (int b = std::max(0, lm0 - r); b <= std::min(63, lm0 + r); ++b) {
                if (a != ls0 && b != lm0) {
                    continue;  // one of the two moves at a time
                }
                const float err = q4_sub_error(xs, d, dmin, a, b, q);
                if (err < best) {
                    best  = err;
                    ls[j] = static_cast<uint8_t>(a);
                    lm[j] = static_cast<uint8_t>(b);
                    std::memcpy(L + Q4K_SUB * j, q, sizeof q);
                }
            }
        }
        if (!(best < std::numeric_limits<float>::infinity())) {  // NaN input: code zeros
            ls[j] = static_cast<uint8_t>(ls0);
            lm[j] = static_cast<uint8_t>(lm0);
            std::memset(L + Q4K_SUB * j, 0, Q4K_SUB);
        }
    }

    // 6-bit scales and mins: sub-blocks 0..3 in the low 6 bits of bytes 0..3 / 4..7, 4..7 as
    // nibbles of bytes 8..11 with their top 2 bits in the spare bits of bytes 0..7
    uint8_t * s = y + offsetof(block_q4_K, scales);
    std::memset(s, 0, K_SCALE_SIZE);
    for (int j = 0; j < n_sub; ++j) {
        if (j < 4) {
            s[j]     = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
            s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((ls[j] >> 4) << 6));
            s[j]     = static_cast<uint8_t>(s[j] | ((lm[j] >> 4) << 6));
        }
    }
    // each 32 bytes of qs: 32 values in the low nibbles, the next 32 in the high ones
    uint8_t * qs = y + offsetof(block_q4_K, qs);
    for (int c = 0; c < QK_K / 64; ++c) {
        for (int l = 0; l < 32; ++l) {
            qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
        }
    }
}

// ---- Q6_K: x ~= scale * q, q in -32..31, sub-blocks of 16 ------------------------------------

constexpr int Q6K_SUB = 16;
// The scale search, as Q4_K's: spacings (x extreme / code end), rounds, reach of the 8-bit scale.
constexpr float k_q6_spacings[]    = {1.0f, 1.06f};
constexpr int   k_q6_iterations    = 2;
constexpr int   k_q6_requant_reach = 1;

struct sym_fit {
    float scale = 0.0f;
    float err   = std::numeric_limits<float>::infinity();
};

sym_fit fit_q6_sub(const float * x) {
    float vmax = 0.0f, amax = 0.0f;
    for (int i = 0; i < Q6K_SUB; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            vmax = x[i];
        }
    }
    sym_fit best;
    if (!(amax > 0)) {
        best.err = 0.0f;
        return best;
    }
    float q[Q6K_SUB];
    // start from the extreme value on either end of the asymmetric code range (-32 or 31),
    // then alternate least squares and re-rounding
    for (const float base : {vmax / -32.0f, vmax / 31.0f}) {
        for (const float spacing : k_q6_spacings) {
            float scale = base * spacing;
            for (int iter = 0; iter < k_q6_iterations; ++iter) {
                const float inv = 1.0f / scale;
                float       sxq = 0, sqq = 0;
                for (int i = 0; i < Q6K_SUB; ++i) {
                    q[i] = round_clamped_f(x[i] * inv, -32.0f, 31.0f);
                    sxq += x[i] * q[i];
                    sqq += q[i] * q[i];
                }
                if (!(sqq > 0)) {
                    break;
                }
                const float a   = sxq / sqq;
                float       err = 0.0f;
                for (int i = 0; i < Q6K_SUB; ++i) {
                    const float e = a * q[i] - x[i];
                    err += e * e;
                }
                if (err < best.err) {
                    best.err   = err;
                    best.scale = a;
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
// (offset by 32) go to L. Uses dequantize_row's arithmetic: (d * sc) * q.
float q6_sub_error(const float * x, float d, int ls, uint8_t * L) {
    const float d1  = d * static_cast<float>(ls);
    const float inv = d1 != 0.0f ? 1.0f / d1 : 0.0f;
    float       err = 0.0f;
    for (int i = 0; i < Q6K_SUB; ++i) {
        const float q = round_clamped_f(x[i] * inv, -32.0f, 31.0f);
        L[i]          = static_cast<uint8_t>(static_cast<int>(q) + 32);
        const float e = d1 * q - x[i];
        err += e * e;
    }
    return err;
}

void quantize_q6_k_block(const float * x, uint8_t * y) {
    constexpr int n_sub = QK_K / Q6K_SUB;
    float         scales[n_sub];
    float         max_scale = 0.0f;  // signed scale of largest magnitude
    for (int j = 0; j < n_sub; ++j) {
        scales[j] = fit_q6_sub(x + Q6K_SUB * j).scale;
        if (std::fabs(scales[j]) > std::fabs(max_scale)) {
            max_scale = scales[j];
        }
    }
    // the largest scale maps to -128, the one end int8 reaches that +127 does not
    const float d  = store_f16(y + offsetof(block_q6_K, d), max_scale / -128);
    auto *      sc = reinterpret_cast<int8_t *>(y + offsetof(block_q6_K, scales));

    uint8_t L[QK_K];
    for (int j = 0; j < n_sub; ++j) {
        const float * xs   = x + Q6K_SUB * j;
        const int     ls0  = d != 0.0f ? round_clamped(scales[j] / d, -128, 127) : 0;
        float         best = std::numeric_limits<float>::infinity();
        uint8_t       q[Q6K_SUB];
        sc[j] = 0;
        std::memset(L + Q6K_SUB * j, 32, Q6K_SUB);
        for (int a = std::max(-128, ls0 - k_q6_requant_reach); a <= std::min(127, ls0 + k_q6_requant_reach); ++a) {
            const float err = q6_sub_error(xs, d, a, q);
            if (err < best) {
                best  = err;
                sc[j] = static_cast<int8_t>(a);
                std::memcpy(L + Q6K_SUB * j, q, sizeof q);
            }
        }
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

}  // namespace

void quantize_q4_k(const float * x, uint8_t * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        quantize_q4_k_block(x + QK_K * i, y + sizeof(block_q4_K) * i);
    }
}

void quantize_q6_k(const float * x, uint8_t * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        quantize_q6_k_block(x + QK_K * i, y + sizeof(block_q6_K) * i);
    }
}

}  // namespace sluice
