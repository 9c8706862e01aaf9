// Scalar reference dot products of the K-quants with Q8_K activations. Each super-block of
// 256 is decoded into its integer codes and per-16 scales, reduced exactly in int32
//   isum = sum_sub sc[sub] * sum_{i in sub} q[i] * a[i]        (|isum| < 2^28 for every type)
// and scaled once: acc += (da * d) * isum - (da * dmin) * sum_sub m[sub] * bsum[sub].
// The decoding follows llama.cpp's dequantize_row_q*_K element order exactly; the reduction is
// ref_decoded.h's, shared with the i-quants.
#include "kernels/ref_decoded.h"
#include "util/half.h"

namespace sluice::kern {
namespace {

using decoded_k = decoded_block;

void decode_q2_k(const block_q2_K & x, decoded_k & o) {
    for (int e = 0; e < QK_K; ++e) {
        const int half = e / 128, shift = 2 * ((e % 128) / 32), l = e % 32;
        o.q[e] = static_cast<int8_t>((x.qs[32 * half + l] >> shift) & 3);
    }
    for (int s = 0; s < QK_K / 16; ++s) {
        o.sc[s] = x.scales[s] & 0xF;
        o.m[s]  = x.scales[s] >> 4;
    }
    o.d    = f16_to_f32(x.d);
    o.dmin = f16_to_f32(x.dmin);
}

void decode_q3_k(const block_q3_K & x, decoded_k & o) {
    for (int e = 0; e < QK_K; ++e) {
        const int half = e / 128, j = (e % 128) / 32, l = e % 32;
        const int q    = (x.qs[32 * half + l] >> (2 * j)) & 3;
        const int high = (x.hmask[l] >> (4 * half + j)) & 1;
        o.q[e]         = static_cast<int8_t>(q - (high ? 0 : 4));
    }
    int8_t sc[16];
    unpack_scales_q3_k(x.scales, sc);
    for (int s = 0; s < QK_K / 16; ++s) {
        o.sc[s] = sc[s];
        o.m[s]  = 0;
    }
    o.d    = f16_to_f32(x.d);
    o.dmin = 0.0f;
}

// Q4_K and Q5_K: chunk c of 64 holds sub-block 2c in the low nibbles, 2c+1 in the high ones.
void decode_q45_k(const uint8_t * qs, const uint8_t * qh, const uint8_t * scales, uint16_t d, uint16_t dmin,
                  decoded_k & o) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            int lo = qs[32 * c + l] & 0xF, hi = qs[32 * c + l] >> 4;
            if (qh != nullptr) {
                lo |= ((qh[l] >> (2 * c)) & 1) << 4;
                hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
            }
            o.q[64 * c + l]      = static_cast<int8_t>(lo);
            o.q[64 * c + 32 + l] = static_cast<int8_t>(hi);
        }
    }
    uint8_t sc[8], m[8];
    unpack_scales_k4(scales, sc, m);
    for (int s = 0; s < QK_K / 16; ++s) {
        o.sc[s] = sc[s / 2];
        o.m[s]  = m[s / 2];
    }
    o.d    = f16_to_f32(d);
    o.dmin = f16_to_f32(dmin);
}

void decode_q6_k(const block_q6_K & x, decoded_k & o) {
    for (int e = 0; e < QK_K; ++e) {
        const int     half = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t ql = x.ql[64 * half + l + 32 * (k & 1)];
        const int     lo = k < 2 ? (ql & 0xF) : (ql >> 4);
        const int     hi = (x.qh[32 * half + l] >> (2 * k)) & 3;
        o.q[e]           = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
    for (int s = 0; s < QK_K / 16; ++s) {
        o.sc[s] = x.scales[s];
        o.m[s]  = 0;
    }
    o.d    = f16_to_f32(x.d);
    o.dmin = 0.0f;
}

void decode_q4_k(const block_q4_K & x, decoded_k & o) {
    decode_q45_k(x.qs, nullptr, x.scales, x.d, x.dmin, o);
}
void decode_q5_k(const block_q5_K & x, decoded_k & o) {
    decode_q45_k(x.qs, x.qh, x.scales, x.d, x.dmin, o);
}

}  // namespace

void dot_q2_k_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_q2_K, decode_q2_k>(n, w, s, r, a, o);
}
void dot_q3_k_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_q3_K, decode_q3_k>(n, w, s, r, a, o);
}
void dot_q4_k_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_q4_K, decode_q4_k>(n, w, s, r, a, o);
}
void dot_q5_k_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_q5_K, decode_q5_k>(n, w, s, r, a, o);
}
void dot_q6_k_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    dot_rows_decoded<block_q6_K, decode_q6_k>(n, w, s, r, a, o);
}

}  // namespace sluice::kern
