// IEEE half (F16) and bfloat16 (BF16) conversions, bit-exact and portable. The F16 decode is
// the exact widening (every half is representable as a float); the encoders round to nearest
// even, as the hardware instructions and llama.cpp's reference do.
#pragma once

#include <bit>
#include <cstdint>

namespace sluice {

inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp  = (h >> 10) & 0x1fu;
    uint32_t       man  = h & 0x3ffu;
    uint32_t       bits;
    if (exp == 0x1f) {  // inf / nan
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {  // normal
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {  // signed zero
        bits = sign;
    } else {  // subnormal: renormalise
        uint32_t e = 113;
        while ((man & 0x400u) == 0) {
            man <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
}

inline uint16_t f32_to_f16(float f) {
    const uint32_t x    = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u) {  // nan: keep it a quiet nan
        return static_cast<uint16_t>(sign | 0x7e00u | ((absx >> 13) & 0x3ffu));
    }
    if (absx >= 0x477ff000u) {  // rounds to >= 65536: inf
        return static_cast<uint16_t>(sign | 0x7c00u);
    }
    if (absx < 0x38800000u) {  // below the smallest normal half: subnormal or zero
        if (absx < 0x33000000u) {
            return static_cast<uint16_t>(sign);  // rounds to zero (<= half of the smallest subnormal)
        }
        const uint32_t e     = absx >> 23;
        const uint32_t m     = (absx & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - e;  // value / 2^-24 = m * 2^(e - 126)
        uint32_t       r     = m >> shift;
        const uint32_t rem   = m & ((1u << shift) - 1u);
        const uint32_t halfw = 1u << (shift - 1u);
        if (rem > halfw || (rem == halfw && (r & 1u))) {
            ++r;
        }
        return static_cast<uint16_t>(sign | r);
    }
    // normal: rebias exponent, round mantissa to 10 bits, nearest even
    uint32_t r = absx - 0x38000000u;  // exponent bias 127 -> 15
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
}

inline float bf16_to_f32(uint16_t h) {
    return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

inline uint16_t f32_to_bf16(float f) {
    uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
    }
    x += 0x7fffu + ((x >> 16) & 1u);
    return static_cast<uint16_t>(x >> 16);
}

}  // namespace sluice
