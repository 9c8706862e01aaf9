// Internal to the kernels room: the decoded form of a 256-element super-block the scalar
// reference kernels of the K-quants (ref_dot_k.cpp) and the i-quants (ref_dot_iq.cpp) share.
// A decoder turns a block into signed integer codes, an integer scale (and min) per 16
// elements and float factors; the dot product is then reduced exactly in int32
//   isum = sum_sub sc[sub] * sum_{i in sub} q[i] * a[i]        (|isum| < 2^28 for every type)
// and scaled once: acc += (da * d) * isum - (da * dmin) * sum_sub m[sub] * bsum[sub].
#pragma once

#include "kernels/kernels_impl.h"

namespace sluice::kern {

struct decoded_block {
    int8_t q[QK_K];
    int    sc[QK_K / 16];
    int    m[QK_K / 16];  // 0 for the types without mins
    float  d;
    float  dmin;  // 0 for the types without mins
};

inline float dot_decoded(const decoded_block & x, const block_q8_K & y) {
    int isum = 0, msum = 0;
    for (int s = 0; s < QK_K / 16; ++s) {
        int sub = 0;
        for (int i = 16 * s; i < 16 * s + 16; ++i) {
            sub += x.q[i] * y.qs[i];
        }
        isum += x.sc[s] * sub;
        msum += x.m[s] * y.bsums[s];
    }
    return (y.d * x.d) * static_cast<float>(isum) - (y.d * x.dmin) * static_cast<float>(msum);
}

// dot_rows of a type whose blocks `decode` turns into decoded_block, with Q8_K activations;
// blocks are accumulated left to right in one float.
template <typename block, void (*decode)(const block &, decoded_block &)>
void dot_rows_decoded(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    const auto *  y = static_cast<const block_q8_K *>(act);
    decoded_block dec;
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto * x   = reinterpret_cast<const block *>(static_cast<const uint8_t *>(w) + r * stride);
        float        acc = 0.0f;
        for (int64_t b = 0; b < n / QK_K; ++b) {
            decode(x[b], dec);
            acc += dot_decoded(dec, y[b]);
        }
        out[r] = acc;
    }
}

}  // namespace sluice::kern
