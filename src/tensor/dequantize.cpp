// Scalar dequantization of every computable type: the oracle the SIMD kernels are tested
// against. Each routine repeats the float operations of llama.cpp's reference dequantizer in
// the same order (ggml-quants.c), so results agree bit for bit; do not "simplify" the
// arithmetic (e.g. fold d * sc * q differently) without re-running the fixture test.
#include "tensor/blocks.h"
#include "tensor/dequantize_iq.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/half.h"

#include <bit>
#include <cstddef>
#include <cstring>

namespace sluice {
namespace {

static_assert(std::endian::native == std::endian::little, "block layouts are little-endian");

// Blocks may sit at any address (MXFP4 blocks are 17 bytes, a row may start anywhere in a
// mapping), so every multi-byte field is read with memcpy rather than through a pointer.
float load_f16(const uint8_t * p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return f16_to_f32(h);
}

float load_bf16(const uint8_t * p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return bf16_to_f32(h);
}

uint32_t load_u32(const uint8_t * p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Byte offsets of the fields inside each block (blocks.h holds the structs; offsetof on them
// documents that the layout below matches).
#define SLUICE_FIELD(type, field) static_cast<int>(offsetof(type, field))

void dequantize_q4_0(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q4_0), y += QK4_0) {
        const float     d  = load_f16(x + SLUICE_FIELD(block_q4_0, d));
        const uint8_t * qs = x + SLUICE_FIELD(block_q4_0, qs);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const int x0     = (qs[j] & 0x0f) - 8;
            const int x1     = (qs[j] >> 4) - 8;
            y[j]             = x0 * d;
            y[j + QK4_0 / 2] = x1 * d;
        }
    }
}

void dequantize_q4_1(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q4_1), y += QK4_1) {
        const float     d  = load_f16(x + SLUICE_FIELD(block_q4_1, d));
        const float     m  = load_f16(x + SLUICE_FIELD(block_q4_1, m));
        const uint8_t * qs = x + SLUICE_FIELD(block_q4_1, qs);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const int x0     = qs[j] & 0x0f;
            const int x1     = qs[j] >> 4;
            y[j]             = x0 * d + m;
            y[j + QK4_1 / 2] = x1 * d + m;
        }
    }
}

void dequantize_q5_0(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q5_0), y += QK5_0) {
        const float     d  = load_f16(x + SLUICE_FIELD(block_q5_0, d));
        const uint32_t  qh = load_u32(x + SLUICE_FIELD(block_q5_0, qh));
        const uint8_t * qs = x + SLUICE_FIELD(block_q5_0, qs);
        for (int j = 0; j < QK5_0 / 2; ++j) {
            // bit j of qh is bit 4 of element j; bit j + 16 that of element j + 16
            const uint32_t h0 = ((qh >> j) << 4) & 0x10u;
            const uint32_t h1 = (qh >> (j + 12)) & 0x10u;
            const int      x0 = static_cast<int>((qs[j] & 0x0fu) | h0) - 16;
            const int      x1 = static_cast<int>((qs[j] >> 4) | h1) - 16;
            y[j]              = x0 * d;
            y[j + QK5_0 / 2]  = x1 * d;
        }
    }
}

void dequantize_q5_1(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q5_1), y += QK5_1) {
        const float     d  = load_f16(x + SLUICE_FIELD(block_q5_1, d));
        const float     m  = load_f16(x + SLUICE_FIELD(block_q5_1, m));
        const uint32_t  qh = load_u32(x + SLUICE_FIELD(block_q5_1, qh));
        const uint8_t * qs = x + SLUICE_FIELD(block_q5_1, qs);
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const uint32_t h0 = ((qh >> j) << 4) & 0x10u;
            const uint32_t h1 = (qh >> (j + 12)) & 0x10u;
            const int      x0 = static_cast<int>((qs[j] & 0x0fu) | h0);
            const int      x1 = static_cast<int>((qs[j] >> 4) | h1);
            y[j]              = x0 * d + m;
            y[j + QK5_1 / 2]  = x1 * d + m;
        }
    }
}

void dequantize_q8_0(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q8_0), y += QK8_0) {
        const float  d  = load_f16(x + SLUICE_FIELD(block_q8_0, d));
        const auto * qs = reinterpret_cast<const int8_t *>(x + SLUICE_FIELD(block_q8_0, qs));
        for (int j = 0; j < QK8_0; ++j) {
            y[j] = qs[j] * d;
        }
    }
}

// Q2_K: 16 sub-blocks of 16; each scale byte is a 4-bit scale (low) and a 4-bit min (high).
// Every 32 bytes of qs hold 128 values, four 2-bit planes of 32.
void dequantize_q2_k(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q2_K)) {
        const float     d      = load_f16(x + SLUICE_FIELD(block_q2_K, d));
        const float     dmin   = load_f16(x + SLUICE_FIELD(block_q2_K, dmin));
        const uint8_t * scales = x + SLUICE_FIELD(block_q2_K, scales);
        const uint8_t * q      = x + SLUICE_FIELD(block_q2_K, qs);
        int             is     = 0;
        for (int n = 0; n < QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const uint8_t sc = scales[is++];
                    const float   dl = d * static_cast<float>(sc & 0x0f);
                    const float   ml = dmin * static_cast<float>(sc >> 4);
                    for (int l = 0; l < 16; ++l) {
                        *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }
}

// Q3_K: 2 low bits in qs (as Q2_K), the third bit in hmask (bit set = no offset of -4), and
// sixteen 6-bit scales biased by 32: the low 4 bits in bytes 0..7, the high 2 in bytes 8..11.
void dequantize_q3_k(const uint8_t * x, float * y, int64_t nb) {
    constexpr uint32_t kmask1 = 0x03030303u;
    constexpr uint32_t kmask2 = 0x0f0f0f0fu;
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q3_K)) {
        const float     d_all = load_f16(x + SLUICE_FIELD(block_q3_K, d));
        const uint8_t * q     = x + SLUICE_FIELD(block_q3_K, qs);
        const uint8_t * hm    = x + SLUICE_FIELD(block_q3_K, hmask);

        uint32_t aux[4];
        std::memcpy(aux, x + SLUICE_FIELD(block_q3_K, scales), 12);
        const uint32_t tmp = aux[2];
        aux[2]             = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3]             = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0]             = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1]             = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int8_t scales[16];
        std::memcpy(scales, aux, sizeof scales);

        int     is = 0;
        uint8_t m  = 1;
        for (int n = 0; n < QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = d_all * static_cast<float>(scales[is++] - 32);
                    for (int l = 16 * half; l < 16 * half + 16; ++l) {
                        const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
                        *y++        = dl * static_cast<float>(v);
                    }
                }
            }
        }
    }
}

// Scale and min j (0..7) of a Q4_K / Q5_K super-block: 6 bits each, packed in 12 bytes.
inline void scale_min_k4(int j, const uint8_t * q, uint8_t & sc, uint8_t & m) {
    if (j < 4) {
        sc = q[j] & 63;
        m  = q[j + 4] & 63;
    } else {
        sc = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        m  = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void dequantize_q4_k(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q4_K)) {
        const float     d      = load_f16(x + SLUICE_FIELD(block_q4_K, d));
        const float     dmin   = load_f16(x + SLUICE_FIELD(block_q4_K, dmin));
        const uint8_t * scales = x + SLUICE_FIELD(block_q4_K, scales);
        const uint8_t * q      = x + SLUICE_FIELD(block_q4_K, qs);
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, sc, m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            scale_min_k4(is + 1, scales, sc, m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; ++l) {
                *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
            }
        }
    }
}

void dequantize_q5_k(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q5_K)) {
        const float     d      = load_f16(x + SLUICE_FIELD(block_q5_K, d));
        const float     dmin   = load_f16(x + SLUICE_FIELD(block_q5_K, dmin));
        const uint8_t * scales = x + SLUICE_FIELD(block_q5_K, scales);
        const uint8_t * ql     = x + SLUICE_FIELD(block_q5_K, qs);
        const uint8_t * qh     = x + SLUICE_FIELD(block_q5_K, qh);
        // each 64 values use two bits of every qh byte: u1 for the low nibbles, u2 the high
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, sc, m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            scale_min_k4(is + 1, scales, sc, m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; ++l) {
                *y++ = d1 * static_cast<float>((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
            }
            u1 = static_cast<uint8_t>(u1 << 2);
            u2 = static_cast<uint8_t>(u2 << 2);
        }
    }
}

// Q6_K: per 128 values, 64 ql bytes (low nibbles of values 0..63, high nibbles of 64..127)
// and 32 qh bytes (two bits for each of four values l, l+32, l+64, l+96).
void dequantize_q6_k(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_q6_K)) {
        const float     d  = load_f16(x + SLUICE_FIELD(block_q6_K, d));
        const uint8_t * ql = x + SLUICE_FIELD(block_q6_K, ql);
        const uint8_t * qh = x + SLUICE_FIELD(block_q6_K, qh);
        const auto *    sc = reinterpret_cast<const int8_t *>(x + SLUICE_FIELD(block_q6_K, scales));
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l]         = d * sc[is + 0] * q1;
                y[l + 32]    = d * sc[is + 2] * q2;
                y[l + 64]    = d * sc[is + 4] * q3;
                y[l + 96]    = d * sc[is + 6] * q4;
            }
        }
    }
}

// Half of 2^(e - 127), exactly: the kvalues are doubled E2M1 values. e = 0 and 1 give
// subnormal floats (2^-128, 2^-127), e = 255 gives 2^127 (E8M0's NaN is not special-cased,
// as in ggml).
float e8m0_to_f32_half(uint8_t e) {
    const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
    return std::bit_cast<float>(bits);
}

void dequantize_mxfp4(const uint8_t * x, float * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += sizeof(block_mxfp4), y += QK_MXFP4) {
        const float     d  = e8m0_to_f32_half(x[SLUICE_FIELD(block_mxfp4, e)]);
        const uint8_t * qs = x + SLUICE_FIELD(block_mxfp4, qs);
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            const int8_t x0     = kvalues_mxfp4[qs[j] & 0x0f];
            const int8_t x1     = kvalues_mxfp4[qs[j] >> 4];
            y[j]                = x0 * d;
            y[j + QK_MXFP4 / 2] = x1 * d;
        }
    }
}

#undef SLUICE_FIELD

}  // namespace

void dequantize_row(ggml_type t, const void * src, float * dst, int64_t n) {
    const type_traits & tr = traits(t);
    if (!tr.computable) {
        fail("dequantize_row: type {} cannot be dequantized", tr.name);
    }
    if (n < 0 || n % tr.block_size != 0) {
        fail("dequantize_row: {} elements is not a multiple of the {} block size {}", n, tr.name, tr.block_size);
    }
    const auto *  x  = static_cast<const uint8_t *>(src);
    const int64_t nb = n / tr.block_size;
    switch (t) {
        case ggml_type::F32:
            if (n > 0) {
                std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
            }
            return;
        case ggml_type::F16:
            for (int64_t i = 0; i < n; ++i) {
                dst[i] = load_f16(x + 2 * i);
            }
            return;
        case ggml_type::BF16:
            for (int64_t i = 0; i < n; ++i) {
                dst[i] = load_bf16(x + 2 * i);
            }
            return;
        case ggml_type::Q4_0:
            return dequantize_q4_0(x, dst, nb);
        case ggml_type::Q4_1:
            return dequantize_q4_1(x, dst, nb);
        case ggml_type::Q5_0:
            return dequantize_q5_0(x, dst, nb);
        case ggml_type::Q5_1:
            return dequantize_q5_1(x, dst, nb);
        case ggml_type::Q8_0:
            return dequantize_q8_0(x, dst, nb);
        case ggml_type::Q2_K:
            return dequantize_q2_k(x, dst, nb);
        case ggml_type::Q3_K:
            return dequantize_q3_k(x, dst, nb);
        case ggml_type::Q4_K:
            return dequantize_q4_k(x, dst, nb);
        case ggml_type::Q5_K:
            return dequantize_q5_k(x, dst, nb);
        case ggml_type::Q6_K:
            return dequantize_q6_k(x, dst, nb);
        case ggml_type::MXFP4:
            return dequantize_mxfp4(x, dst, nb);
        default:
            if (detail::dequantize_iq(t, x, dst, nb)) {
                return;
            }
            break;
    }
    fail("dequantize_row: type {} has no dequantizer", tr.name);
}

}  // namespace sluice
