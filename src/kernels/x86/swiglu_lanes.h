// SwiGLU's activation (kernels.h: swiglu) written once over a lane type L that each ISA file
// supplies (AVX-512: 16 floats, AVX2: 8). Each lane runs exp_approx's and the reference's float
// operations in their order, as separate multiplies and adds (no fused multiply-add), so every
// ISA gives the scalar reference's bits; the tail goes to the reference itself.
//
// L provides: vec, ivec, width, load, store, set1, add, sub, mul, div, min, max, neg, and the
// integer steps for 2^n: bits (float bits as int), from_bits, sub_i, add_i, shl23.
#pragma once

#include "kernels/kernels_impl.h"

namespace sluice::kern::x86 {

template <class L>
static inline void swiglu_lanes(float * g, const float * u, int64_t n) {
    using V   = typename L::vec;
    int64_t j = 0;
    for (; j + L::width <= n; j += L::width) {
        const V g0 = L::load(g + j);
        // exp_approx(-g): clamped as the reference's comparisons clamp (a NaN passes through).
        V x              = L::max(L::set1(-87.0f), L::neg(g0));
        x                = L::min(L::set1(88.0f), x);
        const V    magic = L::set1(12582912.0f);
        const V    t     = L::add(L::mul(x, L::set1(1.44269504088896341f)), magic);
        const V    nf    = L::sub(t, magic);
        const auto bn    = L::sub_i(L::bits(t), L::bits(magic));
        V          r     = L::sub(x, L::mul(nf, L::set1(0.693145751953125f)));
        r                = L::sub(r, L::mul(nf, L::set1(1.428606765330187045e-06f)));
        V p              = L::set1(1.0f / 5040);
        p                = L::add(L::mul(p, r), L::set1(1.0f / 720));
        p                = L::add(L::mul(p, r), L::set1(1.0f / 120));
        p                = L::add(L::mul(p, r), L::set1(1.0f / 24));
        p                = L::add(L::mul(p, r), L::set1(1.0f / 6));
        p                = L::add(L::mul(p, r), L::set1(0.5f));
        p                = L::add(L::mul(p, r), L::set1(1.0f));
        p                = L::add(L::mul(p, r), L::set1(1.0f));
        const V e        = L::mul(p, L::from_bits(L::shl23(L::add_i(bn, 127))));
        L::store(g + j, L::mul(L::div(g0, L::add(L::set1(1.0f), e)), L::load(u + j)));
    }
    swiglu_ref(g + j, u + j, n - j);
}

}  // namespace sluice::kern::x86
