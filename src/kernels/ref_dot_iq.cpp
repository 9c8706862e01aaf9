// Scalar reference dot products of the i-quants and ternary types. Each 256-element block is
// decoded into signed integer codes q[256] and an odd integer scale per 16 elements such that
// the weights are exactly  w[i] = d * factor * sc[i / 16] * q[i]  (factor a power of two), then
// reduced exactly in int32 against the Q8_K codes and scaled once, as the K-quants are:
//   acc += (da * d * factor) * sum_sub sc[sub] * sum_{i in sub} q[i] * a[i]
// |isum| stays below 2^28 for every type (|q| <= 127, |sc| <= 32). IQ1_S / IQ1_M shift each
// group of 8 by +-1/8: their codes are 8 * grid +- 1 with factor 1/8. IQ4_NL (32-element
// blocks) takes Q8_0 activations like Q4_0. Element order follows dequantize_iq.cpp, the
// bit-exact dequantizer the tests check these against.
#include "kernels/ref_decoded.h"
#include "tensor/iq_tables.h"
#include "util/half.h"

#include <cstring>

namespace sluice::kern {
namespace {

using decoded_iq = decoded_block;

// Sets the block's factor; the i-quants have no mins.
void set_scale_no_mins(decoded_iq & o, float d) {
    o.d    = d;
    o.dmin = 0.0f;
    for (int & m : o.m) {
        m = 0;
    }
}

template <typename T>
T load(const void * p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

int grid_byte(uint64_t g, int j) {
    return static_cast<int>((g >> (8 * j)) & 0xff);
}

// 8 grid magnitudes with the signs of `signs` applied, into q.
void put_signed8(int8_t * q, uint64_t g, uint8_t signs) {
    for (int j = 0; j < 8; ++j) {
        const int v = grid_byte(g, j);
        q[j]        = static_cast<int8_t>((signs >> j) & 1 ? -v : v);
    }
}

// Two 4-value grid entries (IQ3) as one group of 8.
uint64_t join4(uint32_t lo, uint32_t hi) {
    return lo | (static_cast<uint64_t>(hi) << 32);
}

void set_scale32(decoded_iq & o, int ib, int s) {
    o.sc[2 * ib] = o.sc[2 * ib + 1] = s;
}

void decode_iq2_xxs(const block_iq2_xxs & x, decoded_iq & o) {
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const auto *   idx = reinterpret_cast<const uint8_t *>(x.qs + 4 * ib);
        const uint32_t aux = load<uint32_t>(x.qs + 4 * ib + 2);
        for (int l = 0; l < 4; ++l) {
            put_signed8(o.q + 32 * ib + 8 * l, iq2xxs_grid[idx[l]], ksigns_iq2xs[(aux >> (7 * l)) & 127]);
        }
        set_scale32(o, ib, 2 * static_cast<int>(aux >> 28) + 1);
    }
    set_scale_no_mins(o, f16_to_f32(x.d) * 0.125f);
}

void decode_iq2_xs(const block_iq2_xs & x, decoded_iq & o) {
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        for (int l = 0; l < 4; ++l) {
            const uint16_t q = x.qs[4 * ib + l];
            put_signed8(o.q + 32 * ib + 8 * l, iq2xs_grid[q & 511], ksigns_iq2xs[q >> 9]);
        }
        o.sc[2 * ib]     = 2 * (x.scales[ib] & 0xf) + 1;
        o.sc[2 * ib + 1] = 2 * (x.scales[ib] >> 4) + 1;
    }
    set_scale_no_mins(o, f16_to_f32(x.d) * 0.125f);
}

void decode_iq2_s(const block_iq2_s & x, decoded_iq & o) {
    const uint8_t * signs = x.qs + QK_K / 8;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        for (int l = 0; l < 4; ++l) {
            const int idx = x.qs[4 * ib + l] | ((x.qh[ib] << (8 - 2 * l)) & 0x300);
            put_signed8(o.q + 32 * ib + 8 * l, iq2s_grid[idx], signs[4 * ib + l]);
        }
        o.sc[2 * ib]     = 2 * (x.scales[ib] & 0xf) + 1;
        o.sc[2 * ib + 1] = 2 * (x.scales[ib] >> 4) + 1;
    }
    set_scale_no_mins(o, f16_to_f32(x.d) * 0.125f);
}

void decode_iq3_xxs(const block_iq3_xxs & x, decoded_iq & o) {
    const uint8_t * scales_and_signs = x.qs + QK_K / 4;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const uint8_t * qs  = x.qs + 8 * ib;
        const uint32_t  aux = load<uint32_t>(scales_and_signs + 4 * ib);
        for (int l = 0; l < 4; ++l) {
            put_signed8(o.q + 32 * ib + 8 * l, join4(iq3xxs_grid[qs[2 * l]], iq3xxs_grid[qs[2 * l + 1]]),
                        ksigns_iq2xs[(aux >> (7 * l)) & 127]);
        }
        set_scale32(o, ib, 2 * static_cast<int>(aux >> 28) + 1);
    }
    set_scale_no_mins(o, f16_to_f32(x.d) * 0.25f);
}

void decode_iq3_s(const block_iq3_s & x, decoded_iq & o) {
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const uint8_t * qs = x.qs + 8 * ib;
        const int       qh = x.qh[ib];
        for (int l = 0; l < 4; ++l) {
            const uint32_t g1 = iq3s_grid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)];
            const uint32_t g2 = iq3s_grid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)];
            put_signed8(o.q + 32 * ib + 8 * l, join4(g1, g2), x.signs[4 * ib + l]);
        }
        const int s = ib % 2 == 0 ? (x.scales[ib / 2] & 0xf) : (x.scales[ib / 2] >> 4);
        set_scale32(o, ib, 2 * s + 1);
    }
    set_scale_no_mins(o, f16_to_f32(x.d));
}

// IQ1: grid values in {-1, 0, 1} shifted by delta = +-1/8: 8 * (g + delta) = 8g +- 1.
void put_iq1_group(int8_t * q, uint64_t g, bool negative_delta) {
    for (int j = 0; j < 8; ++j) {
        q[j] = static_cast<int8_t>(8 * static_cast<int8_t>(grid_byte(g, j)) + (negative_delta ? -1 : 1));
    }
}

void decode_iq1_s(const block_iq1_s & x, decoded_iq & o) {
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const uint16_t h = x.qh[ib];
        for (int l = 0; l < 4; ++l) {
            put_iq1_group(o.q + 32 * ib + 8 * l, iq1s_grid[x.qs[4 * ib + l] | (((h >> (3 * l)) & 7) << 8)],
                          (h & 0x8000) != 0);
        }
        set_scale32(o, ib, 2 * ((h >> 12) & 7) + 1);
    }
    set_scale_no_mins(o, f16_to_f32(x.d) * 0.125f);
}

void decode_iq1_m(const block_iq1_m & x, decoded_iq & o) {
    uint16_t sc[4];
    std::memcpy(sc, x.scales, sizeof sc);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        for (int l = 0; l < 4; ++l) {
            const int nib = (x.qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0xf;
            put_iq1_group(o.q + 32 * ib + 8 * l, iq1s_grid[x.qs[4 * ib + l] | ((nib & 7) << 8)], (nib & 8) != 0);
        }
        o.sc[2 * ib]     = 2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1;
        o.sc[2 * ib + 1] = 2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1;
    }
    const auto d16 =
        static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
    set_scale_no_mins(o, f16_to_f32(d16) * 0.125f);
}

void decode_iq4_xs(const block_iq4_xs & x, decoded_iq & o) {
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const uint8_t * qs = x.qs + 16 * ib;
        for (int j = 0; j < 16; ++j) {
            o.q[32 * ib + j]      = kvalues_iq4nl[qs[j] & 0xf];
            o.q[32 * ib + j + 16] = kvalues_iq4nl[qs[j] >> 4];
        }
        const int ls = ((x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((x.scales_h >> (2 * ib)) & 3) << 4);
        set_scale32(o, ib, ls - 32);
    }
    set_scale_no_mins(o, f16_to_f32(x.d));
}

// TQ1_0's base-3 digit n of byte q (see dequantize_iq.cpp), minus one.
int trit(uint8_t q, int n) {
    static constexpr uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const auto               s       = static_cast<uint8_t>(q * pow3[n]);
    return ((static_cast<uint16_t>(s) * 3) >> 8) - 1;
}

void decode_tq1_0(const block_tq1_0 & x, decoded_iq & o) {
    int8_t *      q    = o.q;
    constexpr int n_qs = sizeof(x.qs), n_qh = sizeof(x.qh);
    for (int j = 0; j < n_qs;) {
        const int run = n_qs - j >= 32 ? 32 : 16;
        for (int n = 0; n < 5; ++n) {
            for (int m = 0; m < run; ++m) {
                *q++ = static_cast<int8_t>(trit(x.qs[j + m], n));
            }
        }
        j += run;
    }
    for (int n = 0; n < 4; ++n) {
        for (int j = 0; j < n_qh; ++j) {
            *q++ = static_cast<int8_t>(trit(x.qh[j], n));
        }
    }
    for (int & s : o.sc) {
        s = 1;
    }
    set_scale_no_mins(o, f16_to_f32(x.d));
}

void decode_tq2_0(const block_tq2_0 & x, decoded_iq & o) {
    for (int e = 0; e < QK_K; ++e) {
        const int j = 32 * (e / 128), l = (e % 128) / 32, m = e % 32;
        o.q[e] = static_cast<int8_t>(((x.qs[j + m] >> (2 * l)) & 3) - 1);
    }
    for (int & s : o.sc) {
        s = 1;
    }
    set_scale_no_mins(o, f16_to_f32(x.d));
}

}  // namespace

void dot_iq2_xxs_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq2_xxs, decode_iq2_xxs>(n, w, s, r, a, o);
}
void dot_iq2_xs_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq2_xs, decode_iq2_xs>(n, w, s, r, a, o);
}
void dot_iq2_s_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq2_s, decode_iq2_s>(n, w, s, r, a, o);
}
void dot_iq3_xxs_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq3_xxs, decode_iq3_xxs>(n, w, s, r, a, o);
}
void dot_iq3_s_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq3_s, decode_iq3_s>(n, w, s, r, a, o);
}
void dot_iq1_s_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq1_s, decode_iq1_s>(n, w, s, r, a, o);
}
void dot_iq1_m_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq1_m, decode_iq1_m>(n, w, s, r, a, o);
}
void dot_iq4_xs_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_iq4_xs, decode_iq4_xs>(n, w, s, r, a, o);
}
void dot_tq1_0_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_tq1_0, decode_tq1_0>(n, w, s, r, a, o);
}
void dot_tq2_0_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_tq2_0, decode_tq2_0>(n, w, s, r, a, o);
}

// IQ4_NL: Q4_0's layout with the non-linear values; Q8_0 activations.
void dot_iq4_nl_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    const auto * y = static_cast<const block_q8_0 *>(act);
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto * x   = reinterpret_cast<const block_iq4_nl *>(static_cast<const uint8_t *>(w) + r * stride);
        float        acc = 0.0f;
        for (int64_t b = 0; b < n / QK4_NL; ++b) {
            int isum = 0;
            for (int j = 0; j < QK4_NL / 2; ++j) {
                isum += kvalues_iq4nl[x[b].qs[j] & 0xF] * y[b].qs[j];
                isum += kvalues_iq4nl[x[b].qs[j] >> 4] * y[b].qs[j + QK4_NL / 2];
            }
            acc += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
        }
        out[r] = acc;
    }
}

}  // namespace sluice::kern
