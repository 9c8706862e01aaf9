// Dequantizers on hand-built blocks whose values are worked out by hand from the bit layouts
// (independent of the fixture, which is produced by the same library the layouts come from),
// plus the error cases of dequantize_row.
#include "tensor/blocks.h"
#include "tensor/quantize.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace sluice {
namespace {

// fp16 bit patterns of the scales used below
constexpr uint16_t H_0_125 = 0x3000;
constexpr uint16_t H_0_25  = 0x3400;
constexpr uint16_t H_0_5   = 0x3800;
constexpr uint16_t H_1     = 0x3c00;
constexpr uint16_t H_2     = 0x4000;
constexpr uint16_t H_M1    = 0xbc00;

template <typename Block>
std::vector<float> dequant(ggml_type t, const Block & b, int64_t n) {
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(t, &b, y.data(), n);
    return y;
}

TEST(dequantize, q4_0) {
    block_q4_0 b{};
    b.d = H_0_5;
    std::memset(b.qs, 0x88, sizeof b.qs);  // every code 8: value 0
    b.qs[0]      = 0x9f;                   // element 0: 15 - 8, element 16: 9 - 8
    const auto y = dequant(ggml_type::Q4_0, b, 32);
    EXPECT_EQ(y[0], 3.5f);
    EXPECT_EQ(y[16], 0.5f);
    for (int i = 0; i < 32; ++i) {
        if (i != 0 && i != 16) {
            EXPECT_EQ(y[i], 0.0f) << i;
        }
    }
}

TEST(dequantize, q4_1) {
    block_q4_1 b{};
    b.d          = H_0_25;
    b.m          = H_M1;
    b.qs[3]      = 0x4c;  // element 3: 12, element 19: 4
    const auto y = dequant(ggml_type::Q4_1, b, 32);
    EXPECT_EQ(y[3], 2.0f);
    EXPECT_EQ(y[19], 0.0f);
    EXPECT_EQ(y[0], -1.0f);
    EXPECT_EQ(y[31], -1.0f);
}

TEST(dequantize, q5_0) {
    block_q5_0 b{};
    b.d               = H_1;
    const uint32_t qh = (1u << 5) | (1u << 20) | (1u << 21);
    std::memcpy(b.qh, &qh, 4);
    b.qs[5]      = 0x31;  // element 5: 1 | 16, element 21: 3 | 16
    const auto y = dequant(ggml_type::Q5_0, b, 32);
    EXPECT_EQ(y[5], 1.0f);
    EXPECT_EQ(y[21], 3.0f);
    EXPECT_EQ(y[20], 0.0f);   // high bit only: 16 - 16
    EXPECT_EQ(y[4], -16.0f);  // no bits at all
}

TEST(dequantize, q5_1) {
    block_q5_1 b{};
    b.d               = H_2;
    b.m               = H_0_5;
    const uint32_t qh = 1u << 31;
    std::memcpy(b.qh, &qh, 4);
    b.qs[15]     = 0xa0;  // element 31: 10 | 16, element 15: 0
    const auto y = dequant(ggml_type::Q5_1, b, 32);
    EXPECT_EQ(y[31], 52.5f);
    EXPECT_EQ(y[15], 0.5f);
}

TEST(dequantize, q8_0) {
    block_q8_0 b{};
    b.d = H_0_125;
    for (int j = 0; j < 32; ++j) {
        b.qs[j] = static_cast<int8_t>(j - 16);
    }
    const auto y = dequant(ggml_type::Q8_0, b, 32);
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(y[j], static_cast<float>(j - 16) / 8) << j;
    }
}

TEST(dequantize, q2_k) {
    block_q2_K b{};
    b.d         = H_1;
    b.dmin      = H_0_5;
    b.scales[5] = 0x23;  // sub-block 5: scale 3, min 2 -> elements 80..95
    for (int l = 0; l < 16; ++l) {
        b.qs[16 + l] = static_cast<uint8_t>((l & 3) << 4);  // third 2-bit plane of bytes 16..31
    }
    const auto y = dequant(ggml_type::Q2_K, b, QK_K);
    for (int i = 0; i < QK_K; ++i) {
        const float want = (i >= 80 && i < 96) ? 3.0f * static_cast<float>((i - 80) & 3) - 1.0f : 0.0f;
        EXPECT_EQ(y[i], want) << i;
    }
}

TEST(dequantize, q3_k) {
    block_q3_K b{};
    b.d = H_0_5;
    // all sixteen 6-bit scales 32 (i.e. 0): low nibbles 0, high 2 bits = 2 in bytes 8..11
    std::memset(b.scales + 8, 0xaa, 4);
    b.scales[0] = 0x02;  // scale 0 = 0b10'0010 = 34 -> +2
    b.scales[5] = 0xd0;  // scale 13 low nibble 13 ...
    b.scales[9] = 0x6a;  // ... high bits 01 -> 29 -> -3
    for (int l = 0; l < 16; ++l) {
        // scale 0: elements 0..15, bits 0-1 of qs[l], hmask bit 0 (set: no -4)
        b.qs[l]    = static_cast<uint8_t>(l & 3);
        b.hmask[l] = (l % 2 == 0) ? 1 : 0;
        // scale 13: elements 208..223, bits 4-5 of qs[48 + l], hmask bit 6 of byte 16 + l
        b.qs[48 + l] = static_cast<uint8_t>((3 - (l & 3)) << 4);
        b.hmask[16 + l] |= 0x40;
    }
    const auto y = dequant(ggml_type::Q3_K, b, QK_K);
    for (int l = 0; l < 16; ++l) {
        EXPECT_EQ(y[l], static_cast<float>((l & 3) - (l % 2 == 0 ? 0 : 4))) << l;
        EXPECT_EQ(y[208 + l], -1.5f * static_cast<float>(3 - (l & 3))) << l;
    }
    for (int i = 16; i < 208; ++i) {
        EXPECT_EQ(y[i], 0.0f) << i;
    }
}

TEST(dequantize, q4_k) {
    block_q4_K b{};
    b.d         = H_1;
    b.dmin      = H_0_25;
    b.scales[1] = 5;  // sub-block 1: scale 5, min 8 (x 0.25 = 2)
    b.scales[5] = 8;
    // sub-block 6: scale 37 = 0b10'0101, min 19 = 0b01'0011
    b.scales[10] = 0x35;
    b.scales[2] |= 0x80;
    b.scales[6] |= 0x40;
    for (int l = 0; l < 32; ++l) {
        b.qs[l]      = static_cast<uint8_t>((l & 15) << 4);  // high nibbles: elements 32..63
        b.qs[96 + l] = static_cast<uint8_t>(l & 15);         // low nibbles: elements 192..223
    }
    const auto y = dequant(ggml_type::Q4_K, b, QK_K);
    for (int l = 0; l < 32; ++l) {
        EXPECT_EQ(y[32 + l], 5.0f * static_cast<float>(l & 15) - 2.0f) << l;
        EXPECT_EQ(y[192 + l], 37.0f * static_cast<float>(l & 15) - 4.75f) << l;
        EXPECT_EQ(y[l], 0.0f);
    }
}

TEST(dequantize, q5_k) {
    block_q5_K b{};
    b.d         = H_0_5;
    b.dmin      = H_1;
    b.scales[3] = 4;  // sub-block 3 (elements 96..127): scale 4 x 0.5 = 2, min 3
    b.scales[7] = 3;
    for (int l = 0; l < 32; ++l) {
        b.qs[32 + l] = static_cast<uint8_t>((l & 15) << 4);
        b.qh[l]      = l >= 16 ? 0x08 : 0;  // bit 3: fifth bit of the high nibbles of chunk 1
    }
    const auto y = dequant(ggml_type::Q5_K, b, QK_K);
    for (int l = 0; l < 32; ++l) {
        EXPECT_EQ(y[96 + l], 2.0f * static_cast<float>(l) - 3.0f) << l;
    }
}

TEST(dequantize, q6_k) {
    block_q6_K b{};
    b.d          = H_0_5;
    b.scales[9]  = -3;  // elements 144..159: low nibbles of ql[80..95], bits 0-1 of qh[48..63]
    b.scales[14] = 7;   // elements 224..239: high nibbles of ql[96..111], bits 6-7 of qh[32..47]
    for (int l = 16; l < 32; ++l) {
        b.ql[64 + l] = static_cast<uint8_t>(l & 15);
        b.qh[32 + l] = static_cast<uint8_t>(l & 3);
    }
    for (int l = 0; l < 16; ++l) {
        b.ql[96 + l] |= 0xf0;
        b.qh[32 + l] |= 0xc0;
    }
    const auto y = dequant(ggml_type::Q6_K, b, QK_K);
    for (int l = 16; l < 32; ++l) {
        const int q = (l & 15) + 16 * (l & 3) - 32;
        EXPECT_EQ(y[128 + l], -1.5f * static_cast<float>(q)) << l;
    }
    for (int l = 0; l < 16; ++l) {
        EXPECT_EQ(y[224 + l], 108.5f) << l;  // 0.5 * 7 * (63 - 32)
    }
    EXPECT_EQ(y[0], 0.0f);
}

TEST(dequantize, mxfp4_exponents_and_unaligned_blocks) {
    // four blocks back to back, one byte into the buffer: every block is misaligned for halves
    std::vector<uint8_t> buf(1 + 4 * sizeof(block_mxfp4));
    uint8_t *            p       = buf.data() + 1;
    const uint8_t        exps[4] = {128, 0, 1, 255};
    for (int b = 0; b < 4; ++b) {
        p[17 * b] = exps[b];
        for (int j = 0; j < 16; ++j) {
            p[17 * b + 1 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
        }
    }
    std::vector<float> y(128);
    dequantize_row(ggml_type::MXFP4, p, y.data(), 128);
    for (int j = 0; j < 16; ++j) {  // e = 128: scale 1 on the doubled values
        EXPECT_EQ(y[j], static_cast<float>(kvalues_mxfp4[j])) << j;
        EXPECT_EQ(y[16 + j], static_cast<float>(kvalues_mxfp4[15 - j])) << j;
    }
    EXPECT_EQ(y[32 + 2], std::ldexp(2.0f, -128));     // e = 0: subnormal 2^-128
    EXPECT_EQ(y[32 + 15], std::ldexp(-12.0f, -128));  // code 15: -12
    EXPECT_EQ(y[64 + 1], std::ldexp(1.0f, -127));     // e = 1
    EXPECT_EQ(y[96 + 1], std::ldexp(1.0f, 127));      // e = 255: 2^127, finite
    EXPECT_TRUE(std::isinf(y[96 + 7]));               // 12 * 2^127 overflows, as in ggml
}

TEST(dequantize, f16_bf16_f32_rows) {
    const uint16_t h[4] = {0x3c00, 0xc000, 0x7c00, 0x0001};
    float          y[4];
    dequantize_row(ggml_type::F16, h, y, 4);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -2.0f);
    EXPECT_TRUE(std::isinf(y[2]));
    EXPECT_EQ(y[3], std::ldexp(1.0f, -24));
    const uint16_t b[2] = {0x3f80, 0xc120};
    dequantize_row(ggml_type::BF16, b, y, 2);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -10.0f);
    const float f[2] = {1.5f, -0.25f};
    dequantize_row(ggml_type::F32, f, y, 2);
    EXPECT_EQ(y[0], 1.5f);
    EXPECT_EQ(y[1], -0.25f);
}

TEST(dequantize, rejects_bad_types_and_lengths) {
    std::vector<uint8_t> buf(4096);
    std::vector<float>   y(1024);
    EXPECT_THROW(dequantize_row(ggml_type::IQ2_XXS, buf.data(), y.data(), 128), error);  // half a block
    EXPECT_THROW(dequantize_row(ggml_type::Q8_K, buf.data(), y.data(), 256), error);
    EXPECT_THROW(dequantize_row(ggml_type::I32, buf.data(), y.data(), 4), error);
    EXPECT_THROW(dequantize_row(ggml_type::Q4_0, buf.data(), y.data(), 33), error);
    EXPECT_THROW(dequantize_row(ggml_type::Q6_K, buf.data(), y.data(), 128), error);
    EXPECT_THROW(dequantize_row(ggml_type::Q8_0, buf.data(), y.data(), -32), error);
    EXPECT_NO_THROW(dequantize_row(ggml_type::Q4_K, buf.data(), y.data(), 0));
}

}  // namespace
}  // namespace sluice
