// F16 / BF16 conversions: exhaustive over all 65536 encodings, and rounding checked at every
// boundary between adjacent encodings (the midpoints are exact floats, as both formats have
// fewer mantissa bits than F32), so ties-to-even, subnormals and overflow are all covered.
#include "util/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace sluice {
namespace {

bool is_f16_nan(uint16_t h) {
    return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0;
}
bool is_bf16_nan(uint16_t h) {
    return (h & 0x7f80) == 0x7f80 && (h & 0x007f) != 0;
}

// Exact value of a half from its fields, computed independently of f16_to_f32.
double f16_value(uint16_t h) {
    const int    e = (h >> 10) & 0x1f;
    const int    m = h & 0x3ff;
    const double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0x1f) {
        return m ? std::numeric_limits<double>::quiet_NaN() : s * INFINITY;
    }
    return e == 0 ? s * std::ldexp(m, -24) : s * std::ldexp(1024 + m, e - 25);
}

TEST(half, f16_decode_is_exact_and_encode_inverts_it) {
    for (uint32_t i = 0; i < 65536; ++i) {
        const auto  h = static_cast<uint16_t>(i);
        const float f = f16_to_f32(h);
        if (is_f16_nan(h)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << i;
            const uint16_t back = f32_to_f16(f);
            ASSERT_TRUE(is_f16_nan(back)) << std::hex << i;
            ASSERT_EQ(back & 0x8000, h & 0x8000) << std::hex << i;
            continue;
        }
        ASSERT_EQ(double(f), f16_value(h)) << std::hex << i;
        ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << i;
        ASSERT_EQ(f32_to_f16(f), h) << std::hex << i;
    }
}

// Between adjacent positive halves a < b: the midpoint goes to the even one, a float just
// below it to a, just above to b. The pair (0x7bff = 65504, "0x7c00") covers overflow: values
// from 65520 on become inf. Negative values mirror.
TEST(half, f16_rounds_to_nearest_even_at_every_boundary) {
    for (uint16_t a = 0; a < 0x7c00; ++a) {
        const uint16_t b   = static_cast<uint16_t>(a + 1);
        const double   lo  = f16_value(a);
        const double   hi  = b == 0x7c00 ? 65536.0 : f16_value(b);
        const auto     mid = static_cast<float>((lo + hi) / 2);
        ASSERT_EQ(double(mid), (lo + hi) / 2);  // exact
        const uint16_t even = (a & 1) ? b : a;
        ASSERT_EQ(f32_to_f16(mid), even) << std::hex << a;
        ASSERT_EQ(f32_to_f16(std::nextafter(mid, 0.0f)), a) << std::hex << a;
        ASSERT_EQ(f32_to_f16(std::nextafter(mid, INFINITY)), b) << std::hex << a;
        ASSERT_EQ(f32_to_f16(-mid), even | 0x8000) << std::hex << a;
        ASSERT_EQ(f32_to_f16(-std::nextafter(mid, 0.0f)), a | 0x8000) << std::hex << a;
    }
}

TEST(half, f16_hand_picked_values) {
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
    EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // tie between 65504 (odd) and 65536: inf
    EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
    EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
    EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1); 1 + 3 * 2^-11 -> up
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
    // subnormals: 2^-24 is the smallest, 2^-25 ties to 0, just above it rounds up
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);
    EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
    EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);     // 1.5 ulp: tie to even 2
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);     // smallest normal
    EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);  // largest subnormal + half: up into normals
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::denorm_min()), 0x8000);
    EXPECT_TRUE(is_f16_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_TRUE(is_f16_nan(f32_to_f16(std::bit_cast<float>(0x7f800001u))));  // payload only in low bits
}

TEST(half, bf16_decode_and_encode_invert_each_other) {
    for (uint32_t i = 0; i < 65536; ++i) {
        const auto  h = static_cast<uint16_t>(i);
        const float f = bf16_to_f32(h);
        ASSERT_EQ(std::bit_cast<uint32_t>(f), i << 16);
        if (is_bf16_nan(h)) {
            ASSERT_TRUE(is_bf16_nan(f32_to_bf16(f))) << std::hex << i;
            continue;
        }
        ASSERT_EQ(f32_to_bf16(f), h) << std::hex << i;
    }
}

TEST(half, bf16_rounds_to_nearest_even_at_every_boundary) {
    for (uint16_t a = 0; a < 0x7f80; ++a) {
        const uint16_t b = static_cast<uint16_t>(a + 1);
        // the midpoint sets the bit just below bf16's mantissa: exact in F32
        const float    mid  = std::bit_cast<float>((uint32_t(a) << 16) | 0x8000u);
        const uint16_t even = (a & 1) ? b : a;
        ASSERT_EQ(f32_to_bf16(mid), even) << std::hex << a;
        ASSERT_EQ(f32_to_bf16(std::nextafter(mid, 0.0f)), a) << std::hex << a;
        if (b != 0x7f80) {
            ASSERT_EQ(f32_to_bf16(std::nextafter(mid, INFINITY)), b) << std::hex << a;
        }
        ASSERT_EQ(f32_to_bf16(-mid), even | 0x8000) << std::hex << a;
    }
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // beyond the last tie: inf
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // subnormal tie to even
    EXPECT_EQ(f32_to_bf16(INFINITY), 0x7f80);
    EXPECT_EQ(f32_to_bf16(-INFINITY), 0xff80);
    // a NaN whose payload lies only in the low 16 bits must not truncate to inf
    EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::bit_cast<float>(0x7f800001u))));
    EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::bit_cast<float>(0xff800001u))));
}

}  // namespace
}  // namespace sluice
