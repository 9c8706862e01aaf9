// llama.cpp's quantization block layouts, byte for byte (ggml-common.h is the spec). A block
// holds `block_size` elements; scales are IEEE half (stored as uint16_t) unless noted.
#pragma once

#include <cstdint>

namespace sluice {

constexpr int QK4_0        = 32;
constexpr int QK4_1        = 32;
constexpr int QK5_0        = 32;
constexpr int QK5_1        = 32;
constexpr int QK8_0        = 32;
constexpr int QK8_1        = 32;
constexpr int QK_MXFP4     = 32;
constexpr int QK_K         = 256;  // super-block of the K-quants
constexpr int K_SCALE_SIZE = 12;   // packed 6-bit scales and mins of Q4_K / Q5_K

struct block_q4_0 {  // x = (q - 8) * d
    uint16_t d;
    uint8_t  qs[QK4_0 / 2];  // element j in the low nibble of qs[j], j+16 in the high one
};
struct block_q4_1 {  // x = q * d + m
    uint16_t d, m;
    uint8_t  qs[QK4_1 / 2];
};
struct block_q5_0 {  // x = (q - 16) * d, bit 4 of element j is bit j of qh
    uint16_t d;
    uint8_t  qh[4];
    uint8_t  qs[QK5_0 / 2];
};
struct block_q5_1 {  // x = q * d + m
    uint16_t d, m;
    uint8_t  qh[4];
    uint8_t  qs[QK5_1 / 2];
};
struct block_q8_0 {  // x = q * d
    uint16_t d;
    int8_t   qs[QK8_0];
};
struct block_q8_1 {  // activations for Q4_1 / Q5_1: s = d * sum(qs)
    uint16_t d, s;
    int8_t   qs[QK8_1];
};
struct block_q2_K {  // 16 sub-blocks of 16: x = d * (sc & 15) * q - dmin * (sc >> 4)
    uint8_t  scales[QK_K / 16];
    uint8_t  qs[QK_K / 4];
    uint16_t d, dmin;
};
struct block_q3_K {  // 16 sub-blocks of 16, 6-bit signed scales, high bit in hmask
    uint8_t  hmask[QK_K / 8];
    uint8_t  qs[QK_K / 4];
    uint8_t  scales[12];
    uint16_t d;
};
struct block_q4_K {  // 8 sub-blocks of 32: x = d * sc * q - dmin * m
    uint16_t d, dmin;
    uint8_t  scales[K_SCALE_SIZE];
    uint8_t  qs[QK_K / 2];
};
struct block_q5_K {
    uint16_t d, dmin;
    uint8_t  scales[K_SCALE_SIZE];
    uint8_t  qh[QK_K / 8];
    uint8_t  qs[QK_K / 2];
};
struct block_q6_K {  // 16 sub-blocks of 16: x = d * sc * (q - 32)
    uint8_t  ql[QK_K / 2];
    uint8_t  qh[QK_K / 4];
    int8_t   scales[QK_K / 16];
    uint16_t d;
};
struct block_q8_K {  // activations for the K-quants (d is a float here)
    float   d;
    int8_t  qs[QK_K];
    int16_t bsums[QK_K / 16];  // sums of each group of 16 qs
};
struct block_mxfp4 {  // x = kvalues_mxfp4[nibble] * 2^(e - 128), OCP MX E2M1
    uint8_t e;        // E8M0 shared exponent
    uint8_t qs[QK_MXFP4 / 2];
};

static_assert(sizeof(block_q4_0) == 18);
static_assert(sizeof(block_q4_1) == 20);
static_assert(sizeof(block_q5_0) == 22);
static_assert(sizeof(block_q5_1) == 24);
static_assert(sizeof(block_q8_0) == 34);
static_assert(sizeof(block_q8_1) == 36);
static_assert(sizeof(block_q2_K) == 84);
static_assert(sizeof(block_q3_K) == 110);
static_assert(sizeof(block_q4_K) == 144);
static_assert(sizeof(block_q5_K) == 176);
static_assert(sizeof(block_q6_K) == 210);
static_assert(sizeof(block_q8_K) == 292);
static_assert(sizeof(block_mxfp4) == 17);

// ---- i-quants and ternary types: 256 elements per block (IQ4_NL: 32), codebooks in
// tensor/iq_tables.h. Scales are odd multiples (2s + 1) so no sub-block scale is zero. ----
constexpr int QK4_NL = 32;

struct block_iq2_xxs {  // per 32: 4 grid bytes, then 4x7 sign bits and a 4-bit scale in a u32
    uint16_t d;
    uint16_t qs[QK_K / 8];  // x = d * (0.5 + s) / 4 * grid * sign
};
struct block_iq2_xs {  // per 32: four u16 (9-bit grid index, 7 sign bits); two 4-bit scales
    uint16_t d;
    uint16_t qs[QK_K / 8];
    uint8_t  scales[QK_K / 32];
};
struct block_iq2_s {  // 10-bit grid indices (8 low bits in qs, 2 high in qh), explicit signs
    uint16_t d;
    uint8_t  qs[QK_K / 4];  // first 32: grid low bits; last 32: sign bytes
    uint8_t  qh[QK_K / 32];
    uint8_t  scales[QK_K / 32];
};
struct block_iq3_xxs {  // 64 grid bytes (4 values each), then per 32 a u32 of signs + scale
    uint16_t d;
    uint8_t  qs[3 * QK_K / 8];  // x = d * (0.5 + s) / 2 * grid * sign
};
struct block_iq3_s {  // 9-bit grid indices, explicit signs, 4-bit scales per 32: x = d (1 + 2s) g
    uint16_t d;
    uint8_t  qs[QK_K / 4];
    uint8_t  qh[QK_K / 32];
    uint8_t  signs[QK_K / 8];
    uint8_t  scales[QK_K / 64];
};
struct block_iq1_s {  // per 32: four 11-bit grid indices, 3-bit scale and a delta sign in qh
    uint16_t d;
    uint8_t  qs[QK_K / 8];
    uint16_t qh[QK_K / 32];  // x = d * (2s + 1) * (grid +- 1/8)
};
struct block_iq1_m {  // no d field: the F16 scale is spread over the top nibbles of scales
    uint8_t qs[QK_K / 8];
    uint8_t qh[QK_K / 16];      // per 8: 3 high index bits and the delta sign
    uint8_t scales[QK_K / 32];  // 3-bit scales per 16 elements, d's nibbles in bits 12..15
};
struct block_iq4_nl {  // x = d * kvalues_iq4nl[nibble], nibbles as in Q4_0
    uint16_t d;
    uint8_t  qs[QK4_NL / 2];
};
struct block_iq4_xs {  // per 32: 6-bit scale (4 low bits in scales_l, 2 high in scales_h) - 32
    uint16_t d;
    uint16_t scales_h;
    uint8_t  scales_l[QK_K / 64];
    uint8_t  qs[QK_K / 2];
};
struct block_tq1_0 {  // ternary, 5 values per byte in base 3 (fixed point), 4 per byte in qh
    uint8_t  qs[(QK_K - 4 * QK_K / 64) / 5];
    uint8_t  qh[QK_K / 64];
    uint16_t d;  // x = (t - 1) * d, t in {0, 1, 2}
};
struct block_tq2_0 {  // ternary in 2 bits: x = (q - 1) * d
    uint8_t  qs[QK_K / 4];
    uint16_t d;
};

static_assert(sizeof(block_iq2_xxs) == 66);
static_assert(sizeof(block_iq2_xs) == 74);
static_assert(sizeof(block_iq2_s) == 82);
static_assert(sizeof(block_iq3_xxs) == 98);
static_assert(sizeof(block_iq3_s) == 110);
static_assert(sizeof(block_iq1_s) == 50);
static_assert(sizeof(block_iq1_m) == 56);
static_assert(sizeof(block_iq4_nl) == 18);
static_assert(sizeof(block_iq4_xs) == 136);
static_assert(sizeof(block_tq1_0) == 54);
static_assert(sizeof(block_tq2_0) == 66);

// E2M1 values doubled (so they are integers); the E8M0 scale is halved to compensate.
constexpr int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

}  // namespace sluice
