// SwiGLU's activation (kernels.h: swiglu, swiglu_clamped, exp_approx): the scalar reference
// and the dispatch. Built with -fno-trapping-math (CMakeLists.txt) so that exp_approx's clamps
// if-convert and the loops here vectorize; nothing reads floating-point exception flags.
#include "kernels/kernels_impl.h"

#include <algorithm>
#include <bit>

namespace sluice {

float exp_approx(float x) {
    // e^x = 2^n e^r with n = round(x log2 e), |r| <= ln 2 / 2; e^r by its Taylor polynomial to
    // degree 7 (remainder < 6e-9 relative). No calls or branches: the rounding adds and
    // subtracts 1.5 * 2^23 (whose bits then hold n), 2^n is built in the exponent field. x is
    // clamped to [-87, 88], where 2^n is normal. x86/swiglu_lanes.h runs these operations in
    // this order, lane by lane.
    x                      = x < -87.0f ? -87.0f : x;
    x                      = x > 88.0f ? 88.0f : x;
    constexpr float magic  = 12582912.0f;  // 1.5 * 2^23
    const float     t      = x * 1.44269504088896341f + magic;
    const float     n      = t - magic;
    const auto      bits_n = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(magic);
    float           r      = x - n * 0.693145751953125f;  // ln 2 split so that n * hi is exact
    r                      = r - n * 1.428606765330187045e-06f;
    float p                = 1.0f / 5040;
    p                      = p * r + 1.0f / 720;
    p                      = p * r + 1.0f / 120;
    p                      = p * r + 1.0f / 24;
    p                      = p * r + 1.0f / 6;
    p                      = p * r + 0.5f;
    p                      = p * r + 1.0f;
    p                      = p * r + 1.0f;
    return p * std::bit_cast<float>((bits_n + 127) << 23);
}

void swiglu(float * g, const float * u, int64_t n, isa i) {
#if defined(__x86_64__) || defined(__i386__)
    if (i == isa::AVX512) {
        kern::swiglu_avx512(g, u, n);
        return;
    }
    if (i == isa::AVX2) {
        kern::swiglu_avx2(g, u, n);
        return;
    }
#endif
    (void)i;
    kern::swiglu_ref(g, u, n);
}

void swiglu_clamped(float * g, const float * u, int64_t n, float alpha, float limit) {
    for (int64_t i = 0; i < n; ++i) {
        const float x = std::min(g[i], limit);
        const float y = std::clamp(u[i], -limit, limit);
        g[i]          = x / (1.0f + exp_approx(-alpha * x)) * (y + 1.0f);
    }
}

namespace kern {

void swiglu_ref(float * g, const float * u, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        g[j] = g[j] / (1.0f + exp_approx(-g[j])) * u[j];
    }
}

}  // namespace kern
}  // namespace sluice
