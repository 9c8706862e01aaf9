// to_f16 on every ISA this CPU runs gives exactly the scalar conversion's bits (util/half.h,
// itself checked against F16 decoding elsewhere): normal values, halfway cases, subnormals,
// values that round to infinity, infinities and signed zeros, over a length with a tail.
#include "kernels/kernels.h"
#include "util/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

namespace sluice {
namespace {

TEST(to_f16, equals_the_scalar_conversion_on_every_isa) {
    std::mt19937       rng(11);
    std::vector<float> x;
    for (int i = 0; i < 2000; ++i) {  // random bit patterns of finite floats up to 2^17
        const uint32_t bits = (rng() & 0x807fffffu) | ((100u + rng() % 48u) << 23);
        x.push_back(std::bit_cast<float>(bits));
    }
    // Halfway between two halves (ties to even), the largest half, past it, subnormal halves.
    for (float v : {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65520.0f, 1e6f, 6e-8f, 3e-8f, 1e-5f, -0.0f, 0.0f,
                    INFINITY, -INFINITY}) {
        x.push_back(v);
    }
    x.push_back(0.5f);  // length 2015: a tail after whole vectors of 8
    std::vector<uint16_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = f32_to_f16(x[i]);
    for (isa target : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
        if (!isa_supported(target)) continue;
        std::vector<uint16_t> got(x.size());
        to_f16(x.data(), got.data(), static_cast<int64_t>(x.size()), target);
        for (size_t i = 0; i < x.size(); ++i) {
            ASSERT_EQ(got[i], want[i]) << isa_name(target) << ": " << x[i];
        }
    }
}

}  // namespace
}  // namespace sluice
