// IQ4_NL / IQ4_XS: x ~= scale * kvalues_iq4nl[code], 16 non-linear levels (denser near zero).
// Per group of 32, the scale is searched: start spacings that map the largest magnitude onto
// the outermost level (-127) or a little inside it, each refined by least squares (codes ->
// best scale for them -> codes again), keeping the lowest squared error. IQ4_XS then stores
// the group scales as 6-bit signed multiples of one fp16 scale per 256 and re-picks each
// group's integer scale among the neighbours of the rounded one, measuring the error of the
// values as dequantize_row reproduces them (as the K-quants do, quantize_k.cpp).
// TQ1_0 / TQ2_0: ternary codes round(x / amax) in {-1, 0, 1}; the packing is the format's
// (5 base-3 digits per byte as a fixed-point fraction; 4 two-bit codes per byte), and with
// llama.cpp's rounding (half away from zero) the bytes equal its reference quantizer's.
#include "tensor/quantize_iq.h"

#include "tensor/blocks.h"
#include "tensor/iq_tables.h"
#include "util/half.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>

namespace sluice {
namespace {

float store_f16(uint8_t * p, float f) {
    const uint16_t h = f32_to_f16(f);
    std::memcpy(p, &h, sizeof h);
    return f16_to_f32(h);
}

// Midpoints between consecutive levels: the level nearest to v is the number of midpoints
// below it (a tie goes to the lower level). Counting compares instead of searching keeps the
// loops over a group branch-free, so they vectorise.
constexpr std::array<float, 15> make_midpoints() {
    std::array<float, 15> m{};
    for (int k = 0; k < 15; ++k) {
        m[k] = 0.5f * static_cast<float>(kvalues_iq4nl[k] + kvalues_iq4nl[k + 1]);
    }
    return m;
}
constexpr std::array<float, 15> k_midpoints = make_midpoints();

// Codes for x[0..32) at `scale`; returns the squared error.
float assign(const float * x, float scale, uint8_t * codes) {
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    float       err = 0.0f;
    for (int j = 0; j < 32; ++j) {
        const float v = x[j] * inv;
        int         c = 0;
        for (float m : k_midpoints) {
            c += v > m ? 1 : 0;
        }
        codes[j]      = static_cast<uint8_t>(c);
        const float e = x[j] - scale * static_cast<float>(kvalues_iq4nl[c]);
        err += e * e;
    }
    return err;
}

// The search: where the extreme value starts (added to -127) and least-squares rounds from
// each. Four starts and one round cost little accuracy on the fixture (round-trip error within
// 1% of 11 starts x 2 rounds, and within 1% of llama.cpp's) at a quarter of the work.
constexpr float k_starts[] = {-12.0f, -8.0f, -4.0f, 0.0f};
constexpr int   k_rounds   = 1;

// The best scale for one group of 32 (0 for an all-zero or non-finite group).
float search_scale(const float * x) {
    float amax = 0.0f, vmax = 0.0f;
    for (int j = 0; j < 32; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            vmax = x[j];
        }
    }
    if (!(amax > 0.0f) || !std::isfinite(amax)) {
        return 0.0f;
    }
    float   best = 0.0f, best_err = std::numeric_limits<float>::infinity();
    uint8_t codes[32];
    // the extreme value on level -127 (either sign of scale), or pulled in a little
    for (float start : k_starts) {
        float scale = vmax / (kvalues_iq4nl[0] + start);
        for (int round = 0; round < k_rounds; ++round) {
            const float err = assign(x, scale, codes);
            if (err < best_err) {
                best_err = err;
                best     = scale;
            }
            float sxq = 0, sqq = 0;
            for (int j = 0; j < 32; ++j) {
                const float q = kvalues_iq4nl[codes[j]];
                sxq += x[j] * q;
                sqq += q * q;
            }
            if (sqq <= 0.0f) {
                break;
            }
            scale = sxq / sqq;
        }
        const float err = assign(x, scale, codes);
        if (err < best_err) {
            best_err = err;
            best     = scale;
        }
    }
    return best;
}

// Packs 32 codes as Q4_0 does: element j in the low nibble of byte j, j + 16 in the high one.
void pack_nibbles(const uint8_t * codes, uint8_t * qs) {
    for (int j = 0; j < 16; ++j) {
        qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + 16] << 4));
    }
}

// Rounds half away from zero (lroundf), the reference's rule for the ternary types.
int ternary(float v, float inv) {
    const long r = std::lround(v * inv);
    return static_cast<int>(std::clamp<long>(r, -1, 1)) + 1;  // 0, 1, 2
}

}  // namespace

void quantize_iq4_nl(const float * x, uint8_t * y, int64_t nb) {
    uint8_t codes[32];
    for (int64_t i = 0; i < nb; ++i, x += QK4_NL, y += sizeof(block_iq4_nl)) {
        const float d = store_f16(y + offsetof(block_iq4_nl, d), search_scale(x));
        assign(x, d, codes);
        pack_nibbles(codes, y + offsetof(block_iq4_nl, qs));
    }
}

void quantize_iq4_xs(const float * x, uint8_t * y, int64_t nb) {
    uint8_t codes[32];
    for (int64_t i = 0; i < nb; ++i, x += QK_K, y += sizeof(block_iq4_xs)) {
        float scales[8], smax = 0.0f;
        for (int ib = 0; ib < 8; ++ib) {
            scales[ib] = search_scale(x + 32 * ib);
            if (std::fabs(scales[ib]) > std::fabs(smax)) {
                smax = scales[ib];
            }
        }
        // group scale = d * (ls - 32), ls in 0..63: the largest lands on -32 (the widest end)
        const float d        = store_f16(y + offsetof(block_iq4_xs, d), -smax / 32.0f);
        uint16_t    scales_h = 0;
        uint8_t *   scales_l = y + offsetof(block_iq4_xs, scales_l);
        std::memset(scales_l, 0, QK_K / 64);
        for (int ib = 0; ib < 8; ++ib) {
            const float * xb = x + 32 * ib;
            int           ls = 32;
            if (d != 0.0f) {
                const int guess = static_cast<int>(std::lround(scales[ib] / d)) + 32;
                float     best  = std::numeric_limits<float>::infinity();
                for (int cand = guess - 1; cand <= guess + 1; ++cand) {
                    const int   c   = std::clamp(cand, 0, 63);
                    const float err = assign(xb, d * static_cast<float>(c - 32), codes);
                    if (err < best) {
                        best = err;
                        ls   = c;
                    }
                }
            }
            assign(xb, d * static_cast<float>(ls - 32), codes);
            pack_nibbles(codes, y + offsetof(block_iq4_xs, qs) + 16 * ib);
            scales_l[ib / 2] = static_cast<uint8_t>(scales_l[ib / 2] | ((ls & 0xf) << (4 * (ib % 2))));
            scales_h         = static_cast<uint16_t>(scales_h | ((ls >> 4) << (2 * ib)));
        }
        std::memcpy(y + offsetof(block_iq4_xs, scales_h), &scales_h, sizeof scales_h);
    }
}

void quantize_tq2_0(const float * x, uint8_t * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K, y += sizeof(block_tq2_0)) {
        float amax = 0.0f;
        for (int j = 0; j < QK_K; ++j) {
            amax = std::max(amax, std::fabs(x[j]));
        }
        store_f16(y + offsetof(block_tq2_0, d), amax);
        const float inv = amax != 0.0f ? 1.0f / amax : 0.0f;
        // byte j + m of each 32-byte run holds elements 128 (j / 32) + 32 l + m in bits 2l..2l+1
        for (int e = 0; e < QK_K; e += 128) {
            for (int m = 0; m < 32; ++m) {
                int q = 0;
                for (int l = 0; l < 4; ++l) {
                    q |= ternary(x[e + 32 * l + m], inv) << (2 * l);
                }
                y[offsetof(block_tq2_0, qs) + e / 4 + m] = static_cast<uint8_t>(q);
            }
        }
    }
}

void quantize_tq1_0(const float * x, uint8_t * y, int64_t nb) {
    constexpr int n_qs = sizeof(block_tq1_0::qs), n_qh = sizeof(block_tq1_0::qh);
    // `digits` trits, most significant first, as a byte holding ceil(value * 256 / 3^5).
    const auto pack = [](const int * t, int digits) {
        int v = 0;
        for (int n = 0; n < 5; ++n) {
            v = 3 * v + (n < digits ? t[n] : 0);
        }
        return static_cast<uint8_t>((v * 256 + 242) / 243);
    };
    for (int64_t i = 0; i < nb; ++i, x += QK_K, y += sizeof(block_tq1_0)) {
        float amax = 0.0f;
        for (int j = 0; j < QK_K; ++j) {
            amax = std::max(amax, std::fabs(x[j]));
        }
        store_f16(y + offsetof(block_tq1_0, d), amax);
        const float   inv = amax != 0.0f ? 1.0f / amax : 0.0f;
        const float * xe  = x;
        int           t[5];
        // runs of 32 bytes, then one of 16: byte m of a run holds elements m, m + run, ... (5)
        for (int j = 0; j < n_qs;) {
            const int run = n_qs - j >= 32 ? 32 : 16;
            for (int m = 0; m < run; ++m) {
                for (int n = 0; n < 5; ++n) {
                    t[n] = ternary(xe[m + n * run], inv);
                }
                y[offsetof(block_tq1_0, qs) + j + m] = pack(t, 5);
            }
            xe += 5 * run;
            j += run;
        }
        for (int j = 0; j < n_qh; ++j) {
            for (int n = 0; n < 4; ++n) {
                t[n] = ternary(xe[j + n * n_qh], inv);
            }
            y[offsetof(block_tq1_0, qh) + j] = pack(t, 4);
        }
    }
}

}  // namespace sluice
