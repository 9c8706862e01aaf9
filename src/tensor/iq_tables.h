// The lookup tables the i-quant and ternary formats are defined by: codebooks of 8 (or 4)
// element magnitudes indexed by the stored grid indices, the sign patterns of IQ2/IQ3, and
// the non-linear 4-bit values of IQ4_NL / IQ4_XS. Shared by the dequantizers (tensor room) and
// the dot kernels (kernels room); the codebooks are defined in iq2_grids.cpp and iq1_iq3_grids.cpp.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace sluice {

extern const uint64_t iq2xxs_grid[256];  // 8 magnitudes in {8, 25, 43}
extern const uint64_t iq2xs_grid[512];
extern const uint64_t iq2s_grid[1024];
extern const uint32_t iq3xxs_grid[256];  // 4 magnitudes in {4, 12, ..., 62}
extern const uint32_t iq3s_grid[512];    // 4 magnitudes in {1, 3, ..., 15}
extern const uint64_t iq1s_grid[2048];   // 8 signed values in {-1, 0, 1}

// IQ4_NL / IQ4_XS: the 16 values a 4-bit code stands for.
constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// IQ2/IQ3 store 7 sign bits per 8 elements; the 8th makes the count of negatives even. Entry i
// is the full 8-bit mask (bit j set: element j negative).
constexpr std::array<uint8_t, 128> make_ksigns_iq2xs() {
    std::array<uint8_t, 128> s{};
    for (int i = 0; i < 128; ++i) {
        s[i] = static_cast<uint8_t>(i | ((std::popcount(static_cast<unsigned>(i)) & 1) << 7));
    }
    return s;
}
inline constexpr std::array<uint8_t, 128> ksigns_iq2xs = make_ksigns_iq2xs();

// IQ1_S / IQ1_M: each group of 8 values is shifted by +-1/8 (the sign is stored per group).
constexpr float iq1_delta = 0.125f;

}  // namespace sluice
