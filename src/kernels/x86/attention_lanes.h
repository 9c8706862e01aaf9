// Flash attention's block step (kernels.h: attend_block) written once over a 16-float lane
// type L, which each ISA file supplies: AVX-512 one zmm, AVX2 a pair of ymm. In the score
// phase a vector holds 16 key positions (the cache keeps keys in lanes of 16 positions), so
// a query's 64 scores are four chains of multiply-adds over the head's dims; in the value
// phase a vector holds 16 dims of the output. Either way each lane's arithmetic runs in a
// fixed order that depends only on its own query vector, which keeps any split of queries
// into calls bit-identical.
//
// L provides: vec, zero(), set1(f), load(const float *), load(const uint16_t *) (F16),
// store(float *, vec), add, mul, fma(a, b, c) = a * b + c, fnma(a, b, c) = c - a * b, max,
// round(x) (to nearest), scale2(x, n) = x * 2^n (n integral, >= -126), reduce_add (a fixed
// tree), reduce_max, keep(x, bits, other) (lane k: bit k set ? x : other), and two register
// blocking sizes: score_rows (query vectors per pass of the score phase) and value_rows.
#pragma once

#include "kernels/x86/x86_common.h"

#include <algorithm>
#include <cmath>

namespace sluice::kern::x86 {

// exp(x) for x <= 0 with a relative error of a few ulp: 2^n * e^r with n = round(x log2 e)
// and |r| <= ln2 / 2, e^r by its Taylor polynomial to degree 7 (remainder < 6e-9). Lanes below
// -87.3 give about 1e-38 instead of less (callers zero the lanes that must be 0). exp(0) is
// exactly 1, so a rescale by exp(m - m) changes nothing.
template <class L>
static inline typename L::vec exp_nonpositive(typename L::vec x) {
    using V   = typename L::vec;
    x         = L::max(x, L::set1(-87.3f));
    const V n = L::round(L::mul(x, L::set1(1.44269504088896341f)));
    V       r = L::fnma(n, L::set1(0.693145751953125f), x);  // ln 2 split so that n * hi is exact
    r         = L::fnma(n, L::set1(1.428606765330187045e-06f), r);
    V p       = L::set1(1.0f / 5040);
    p         = L::fma(p, r, L::set1(1.0f / 720));
    p         = L::fma(p, r, L::set1(1.0f / 120));
    p         = L::fma(p, r, L::set1(1.0f / 24));
    p         = L::fma(p, r, L::set1(1.0f / 6));
    p         = L::fma(p, r, L::set1(0.5f));
    p         = L::fma(p, r, L::set1(1.0f));
    p         = L::fma(p, r, L::set1(1.0f));
    return L::scale2(p, n);
}

// Lanes k of group g (positions 16 g + k of the block) with lo <= 16 g + k < hi.
static inline uint32_t visible_bits(int64_t g, int32_t lo, int32_t hi) {
    const int64_t a = std::clamp<int64_t>(lo - 16 * g, 0, 16), b = std::clamp<int64_t>(hi - 16 * g, 0, 16);
    return a >= b ? 0u : static_cast<uint32_t>(((uint64_t{1} << b) - 1) & ~((uint64_t{1} << a) - 1));
}

constexpr int k_groups = static_cast<int>(k_attention_block / k_key_lanes);  // 4

template <class L, class E>
static inline typename L::vec load_lanes(const uint8_t * p) {
    return L::load(reinterpret_cast<const E *>(p));
}

// Scores of NB query vectors from v0, their softmax step; writes p (zero where not visible)
// and each vector's rescale factor, and updates m and l.
template <class L, class E, int NB>
static inline void score_rows(const attention_block_args & a, int64_t v0, float * p, float * alpha) {
    using V            = typename L::vec;
    const auto *  keys = static_cast<const uint8_t *>(a.keys);
    const int64_t d    = a.head_dim;
    V             s[NB][k_groups];
    for (int b = 0; b < NB; ++b) {
        for (int g = 0; g < k_groups; ++g) {
            s[b][g] = L::zero();
        }
    }
    for (int64_t i = 0; i < d; ++i) {
        V k[k_groups];
        for (int g = 0; g < k_groups; ++g) {
            k[g] = load_lanes<L, E>(keys + g * a.key_group_stride + i * k_key_lanes * sizeof(E));
        }
        for (int b = 0; b < NB; ++b) {
            const V q = L::set1(a.q[(v0 + b) * d + i]);
            for (int g = 0; g < k_groups; ++g) {
                s[b][g] = L::fma(q, k[g], s[b][g]);
            }
        }
    }
    const V minus_inf = L::set1(-INFINITY);
    for (int b = 0; b < NB; ++b) {
        const int64_t v = v0 + b;
        uint32_t      bits[k_groups];
        V             mx = minus_inf;
        for (int g = 0; g < k_groups; ++g) {
            bits[g] = visible_bits(g, a.lo[v], a.hi[v]);
            s[b][g] = L::keep(L::mul(s[b][g], L::set1(a.scale)), bits[g], minus_inf);
            mx      = L::max(mx, s[b][g]);
        }
        const float m_old = a.m[v], m_new = std::max(m_old, L::reduce_max(mx));
        float *     pv = p + v * k_attention_block;
        if (m_new == -INFINITY) {  // nothing seen yet, nothing visible here: stays empty
            std::fill_n(pv, k_attention_block, 0.0f);
            alpha[v] = 0.0f;
            continue;
        }
        V e[k_groups];
        for (int g = 0; g < k_groups; ++g) {
            e[g] = L::keep(exp_nonpositive<L>(L::add(s[b][g], L::set1(-m_new))), bits[g], L::zero());
            L::store(pv + g * k_key_lanes, e[g]);
        }
        const float l_block = L::reduce_add(L::add(L::add(e[0], e[1]), L::add(e[2], e[3])));
        alpha[v]            = m_old == -INFINITY ? 0.0f : std::exp(m_old - m_new);
        a.l[v]              = a.l[v] * alpha[v] + l_block;
        a.m[v]              = m_new;
    }
}

// acc[v][16 c0 .. 16 (c0 + NC)) = acc * alpha + sum over positions [j0, j1) of p_j V_j, for NB
// query vectors from v0.
template <class L, class E, int NB, int NC>
static inline void value_rows(const attention_block_args & a, int64_t v0, int64_t c0, int64_t j0, int64_t j1,
                              const float * p, const float * alpha) {
    using V              = typename L::vec;
    const auto *  values = static_cast<const uint8_t *>(a.values);
    const int64_t d      = a.head_dim;
    V             acc[NB][NC];
    for (int b = 0; b < NB; ++b) {
        for (int c = 0; c < NC; ++c) {
            acc[b][c] = L::mul(L::load(a.acc + (v0 + b) * d + (c0 + c) * 16), L::set1(alpha[v0 + b]));
        }
    }
    for (int64_t j = j0; j < j1; ++j) {
        V val[NC];
        for (int c = 0; c < NC; ++c) {
            val[c] = load_lanes<L, E>(values + j * a.value_stride + (c0 + c) * 16 * sizeof(E));
        }
        for (int b = 0; b < NB; ++b) {
            const V w = L::set1(p[(v0 + b) * k_attention_block + j]);
            for (int c = 0; c < NC; ++c) {
                acc[b][c] = L::fma(w, val[c], acc[b][c]);
            }
        }
    }
    for (int b = 0; b < NB; ++b) {
        for (int c = 0; c < NC; ++c) {
            L::store(a.acc + (v0 + b) * d + (c0 + c) * 16, acc[b][c]);
        }
    }
}

// f.template operator()<N>() with N = n, for 1 <= n <= NMAX: a runtime count (the last query
// vectors of a call, the last dims of a head) as the register-blocking template argument.
template <int NMAX, class F>
static inline void with_count(int64_t n, const F & f) {
    if constexpr (NMAX > 1) {
        if (n < NMAX) {
            with_count<NMAX - 1>(n, f);
            return;
        }
    }
    f.template operator()<NMAX>();
}

template <class L, class E>
static inline void attend_block_lanes(const attention_block_args & a) {
    int32_t j0 = static_cast<int32_t>(k_attention_block), j1 = 0;  // positions any vector sees
    for (int64_t v = 0; v < a.n_q; ++v) {
        if (a.lo[v] < a.hi[v]) {
            j0 = std::min(j0, a.lo[v]);
            j1 = std::max(j1, a.hi[v]);
        }
    }
    if (j0 >= j1) {
        return;  // no vector sees a key here: every state stays as it is
    }
    float * p     = a.scratch;                              // [n_q][64]
    float * alpha = a.scratch + a.n_q * k_attention_block;  // [n_q]
    for (int64_t v0 = 0; v0 < a.n_q; v0 += L::score_rows) {
        with_count<L::score_rows>(std::min<int64_t>(L::score_rows, a.n_q - v0),
                                  [&]<int NB>() { score_rows<L, E, NB>(a, v0, p, alpha); });
    }
    const int64_t chunks = a.head_dim / 16;  // of 16 dims, taken 4 at a time
    for (int64_t v0 = 0; v0 < a.n_q; v0 += L::value_rows) {
        with_count<L::value_rows>(std::min<int64_t>(L::value_rows, a.n_q - v0), [&]<int NB>() {
            for (int64_t c0 = 0; c0 < chunks; c0 += 4) {
                with_count<4>(std::min<int64_t>(4, chunks - c0),
                              [&]<int NC>() { value_rows<L, E, NB, NC>(a, v0, c0, j0, j1, p, alpha); });
            }
        });
    }
}

template <class L>
static inline void attend_block_for(ggml_type t, const attention_block_args & a) {
    if (t == ggml_type::F16) {
        attend_block_lanes<L, uint16_t>(a);
    } else {
        attend_block_lanes<L, float>(a);
    }
}

}  // namespace sluice::kern::x86
