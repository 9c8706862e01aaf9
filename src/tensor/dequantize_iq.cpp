// Scalar dequantization of the i-quants and ternary types. As in dequantize.cpp, each routine
// repeats the float operations of llama.cpp's reference dequantizer in the same order
// (ggml-quants.c), so the results agree bit for bit with the fixture
// (tests/data/quant-blocks-iq.gguf); keep the arithmetic as it is.
#include "tensor/dequantize_iq.h"

#include "tensor/blocks.h"
#include "tensor/iq_tables.h"
#include "util/half.h"

#include <cstring>

namespace sluice::detail {
namespace {

template <typename T>
T load(const uint8_t * p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

float load_f16(const uint8_t * p) {
    return f16_to_f32(load<uint16_t>(p));
}

// Byte j (0 = lowest) of a grid entry: element j's magnitude.
int grid_byte(uint64_t g, int j) {
    return static_cast<int>((g >> (8 * j)) & 0xff);
}

float sign_of(uint8_t signs, int j) {
    return (signs >> j) & 1 ? -1.f : 1.f;
}

#define FIELD(type, field) (x + offsetof(type, field))

void iq2_xxs(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq2_xxs)) {
        const float     d  = load_f16(FIELD(block_iq2_xxs, d));
        const uint8_t * qs = FIELD(block_iq2_xxs, qs);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            // two u32: four grid indices, then 4 x 7 sign bits and the 4-bit scale on top
            const uint8_t * idx = qs + 8 * ib;
            const uint32_t  aux = load<uint32_t>(qs + 8 * ib + 4);
            const float     db  = d * (0.5f + static_cast<float>(aux >> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l) {
                const uint64_t g     = iq2xxs_grid[idx[l]];
                const uint8_t  signs = ksigns_iq2xs[(aux >> (7 * l)) & 127];
                for (int j = 0; j < 8; ++j) {
                    y[j] = db * static_cast<float>(grid_byte(g, j)) * sign_of(signs, j);
                }
                y += 8;
            }
        }
    }
}

void iq2_xs(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq2_xs)) {
        const float     d      = load_f16(FIELD(block_iq2_xs, d));
        const uint8_t * qs     = FIELD(block_iq2_xs, qs);
        const uint8_t * scales = FIELD(block_iq2_xs, scales);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const float db[2] = {d * (0.5f + static_cast<float>(scales[ib] & 0xf)) * 0.25f,
                                 d * (0.5f + static_cast<float>(scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l) {
                const uint16_t q     = load<uint16_t>(qs + 2 * (4 * ib + l));
                const uint64_t g     = iq2xs_grid[q & 511];
                const uint8_t  signs = ksigns_iq2xs[q >> 9];
                for (int j = 0; j < 8; ++j) {
                    y[j] = db[l / 2] * static_cast<float>(grid_byte(g, j)) * sign_of(signs, j);
                }
                y += 8;
            }
        }
    }
}

void iq2_s(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq2_s)) {
        const float     d      = load_f16(FIELD(block_iq2_s, d));
        const uint8_t * qs     = FIELD(block_iq2_s, qs);
        const uint8_t * signs  = qs + QK_K / 8;
        const uint8_t * qh     = FIELD(block_iq2_s, qh);
        const uint8_t * scales = FIELD(block_iq2_s, scales);
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, signs += 4) {
            const float db[2] = {d * (0.5f + static_cast<float>(scales[ib] & 0xf)) * 0.25f,
                                 d * (0.5f + static_cast<float>(scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l) {
                const uint64_t g = iq2s_grid[qs[l] | ((qh[ib] << (8 - 2 * l)) & 0x300)];
                for (int j = 0; j < 8; ++j) {
                    y[j] = db[l / 2] * static_cast<float>(grid_byte(g, j)) * sign_of(signs[l], j);
                }
                y += 8;
            }
        }
    }
}

void iq3_xxs(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq3_xxs)) {
        const float     d                = load_f16(FIELD(block_iq3_xxs, d));
        const uint8_t * qs               = FIELD(block_iq3_xxs, qs);
        const uint8_t * scales_and_signs = qs + QK_K / 4;
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 8) {
            const uint32_t aux = load<uint32_t>(scales_and_signs + 4 * ib);
            const float    db  = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; ++l) {
                const uint8_t  signs = ksigns_iq2xs[(aux >> (7 * l)) & 127];
                const uint32_t g1 = iq3xxs_grid[qs[2 * l]], g2 = iq3xxs_grid[qs[2 * l + 1]];
                for (int j = 0; j < 4; ++j) {
                    y[j]     = db * static_cast<float>(grid_byte(g1, j)) * sign_of(signs, j);
                    y[j + 4] = db * static_cast<float>(grid_byte(g2, j)) * sign_of(signs, j + 4);
                }
                y += 8;
            }
        }
    }
}

void iq3_s(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq3_s)) {
        const float     d      = load_f16(FIELD(block_iq3_s, d));
        const uint8_t * qs     = FIELD(block_iq3_s, qs);
        const uint8_t * qh     = FIELD(block_iq3_s, qh);
        const uint8_t * signs  = FIELD(block_iq3_s, signs);
        const uint8_t * scales = FIELD(block_iq3_s, scales);
        // 32 elements per pass, each with its own 4-bit scale and one qh byte of 9th index bits
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 8, signs += 4) {
            const int   s  = ib % 2 == 0 ? (scales[ib / 2] & 0xf) : (scales[ib / 2] >> 4);
            const float db = d * static_cast<float>(1 + 2 * s);
            for (int l = 0; l < 4; ++l) {
                const uint32_t g1 = iq3s_grid[qs[2 * l] | ((qh[ib] << (8 - 2 * l)) & 256)];
                const uint32_t g2 = iq3s_grid[qs[2 * l + 1] | ((qh[ib] << (7 - 2 * l)) & 256)];
                for (int j = 0; j < 4; ++j) {
                    y[j]     = db * static_cast<float>(grid_byte(g1, j)) * sign_of(signs[l], j);
                    y[j + 4] = db * static_cast<float>(grid_byte(g2, j)) * sign_of(signs[l], j + 4);
                }
                y += 8;
            }
        }
    }
}

void iq1_s(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq1_s)) {
        const float     d  = load_f16(FIELD(block_iq1_s, d));
        const uint8_t * qs = FIELD(block_iq1_s, qs);
        const uint8_t * qh = FIELD(block_iq1_s, qh);
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4) {
            const uint16_t h     = load<uint16_t>(qh + 2 * ib);
            const float    dl    = d * static_cast<float>(2 * ((h >> 12) & 7) + 1);
            const float    delta = h & 0x8000 ? -iq1_delta : iq1_delta;
            for (int l = 0; l < 4; ++l) {
                const uint64_t g = iq1s_grid[qs[l] | (((h >> (3 * l)) & 7) << 8)];
                for (int j = 0; j < 8; ++j) {
                    y[j] = dl * (static_cast<float>(static_cast<int8_t>(grid_byte(g, j))) + delta);
                }
                y += 8;
            }
        }
    }
}

void iq1_m(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq1_m)) {
        const uint8_t * qs = FIELD(block_iq1_m, qs);
        const uint8_t * qh = FIELD(block_iq1_m, qh);
        uint16_t        sc[4];
        std::memcpy(sc, FIELD(block_iq1_m, scales), sizeof sc);
        const uint16_t d16 =
            static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        const float d = f16_to_f32(d16);
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2) {
            const float dl[2] = {d * static_cast<float>(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1),
                                 d * static_cast<float>(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1)};
            for (int l = 0; l < 4; ++l) {
                // group l's 3 high index bits and its delta sign sit in one nibble of qh
                const int      nib   = (qh[l / 2] >> (4 * (l % 2))) & 0xf;
                const uint64_t g     = iq1s_grid[qs[l] | ((nib & 7) << 8)];
                const float    delta = nib & 0x8 ? -iq1_delta : iq1_delta;
                for (int j = 0; j < 8; ++j) {
                    y[j] = dl[l / 2] * (static_cast<float>(static_cast<int8_t>(grid_byte(g, j))) + delta);
                }
                y += 8;
            }
        }
    }
}

void iq4_nl(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq4_nl), y += QK4_NL) {
        const float     d  = load_f16(FIELD(block_iq4_nl, d));
        const uint8_t * qs = FIELD(block_iq4_nl, qs);
        for (int j = 0; j < QK4_NL / 2; ++j) {
            y[j]              = d * static_cast<float>(kvalues_iq4nl[qs[j] & 0xf]);
            y[j + QK4_NL / 2] = d * static_cast<float>(kvalues_iq4nl[qs[j] >> 4]);
        }
    }
}

void iq4_xs(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_iq4_xs)) {
        const float     d        = load_f16(FIELD(block_iq4_xs, d));
        const uint16_t  scales_h = load<uint16_t>(FIELD(block_iq4_xs, scales_h));
        const uint8_t * scales_l = FIELD(block_iq4_xs, scales_l);
        const uint8_t * qs       = FIELD(block_iq4_xs, qs);
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 16, y += 32) {
            const int   ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * static_cast<float>(ls - 32);
            for (int j = 0; j < 16; ++j) {
                y[j]      = dl * static_cast<float>(kvalues_iq4nl[qs[j] & 0xf]);
                y[j + 16] = dl * static_cast<float>(kvalues_iq4nl[qs[j] >> 4]);
            }
        }
    }
}

// TQ1_0's base-3 digits: byte q holds 5 (or 4) trits as a fixed-point fraction q / 243;
// multiplying by 3^n brings digit n to the top, and (q * 3) >> 8 reads it.
int trit(uint8_t q, int n) {
    static constexpr uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const auto               s       = static_cast<uint8_t>(q * pow3[n]);
    return ((static_cast<uint16_t>(s) * 3) >> 8) - 1;
}

void tq1_0(const uint8_t * x, float * y, int64_t nb) {
    constexpr int n_qs = sizeof(block_tq1_0::qs), n_qh = sizeof(block_tq1_0::qh);
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_tq1_0)) {
        const float     d  = load_f16(FIELD(block_tq1_0, d));
        const uint8_t * qs = FIELD(block_tq1_0, qs);
        const uint8_t * qh = FIELD(block_tq1_0, qh);
        // qs: 32-byte runs (then one 16-byte run), each giving its 5 digits in turn
        for (int j = 0; j < n_qs;) {
            const int run = n_qs - j >= 32 ? 32 : 16;
            for (int n = 0; n < 5; ++n) {
                for (int m = 0; m < run; ++m) {
                    *y++ = static_cast<float>(trit(qs[j + m], n)) * d;
                }
            }
            j += run;
        }
        for (int n = 0; n < 4; ++n) {
            for (int j = 0; j < n_qh; ++j) {
                *y++ = static_cast<float>(trit(qh[j], n)) * d;
            }
        }
    }
}

void tq2_0(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_tq2_0)) {
        const float     d  = load_f16(FIELD(block_tq2_0, d));
        const uint8_t * qs = FIELD(block_tq2_0, qs);
        for (int j = 0; j < QK_K / 4; j += 32) {
            for (int l = 0; l < 4; ++l) {
                for (int m = 0; m < 32; ++m) {
                    *y++ = static_cast<float>(((qs[j + m] >> (2 * l)) & 3) - 1) * d;
                }
            }
        }
    }
}

#undef FIELD

}  // namespace

bool dequantize_iq(ggml_type t, const uint8_t * x, float * y, int64_t nb) {
    switch (t) {
        case ggml_type::IQ2_XXS:
            return iq2_xxs(x, y, nb), true;
        case ggml_type::IQ2_XS:
            return iq2_xs(x, y, nb), true;
        case ggml_type::IQ2_S:
            return iq2_s(x, y, nb), true;
        case ggml_type::IQ3_XXS:
            return iq3_xxs(x, y, nb), true;
        case ggml_type::IQ3_S:
            return iq3_s(x, y, nb), true;
        case ggml_type::IQ1_S:
            return iq1_s(x, y, nb), true;
        case ggml_type::IQ1_M:
            return iq1_m(x, y, nb), true;
        case ggml_type::IQ4_NL:
            return iq4_nl(x, y, nb), true;
        case ggml_type::IQ4_XS:
            return iq4_xs(x, y, nb), true;
        case ggml_type::TQ1_0:
            return tq1_0(x, y, nb), true;
        case ggml_type::TQ2_0:
            return tq2_0(x, y, nb), true;
        default:
            return false;
    }
}

}  // namespace sluice::detail
