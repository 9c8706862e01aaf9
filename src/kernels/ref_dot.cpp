// Scalar reference dot products for the float types and the 32-element block types. Each
// block is reduced exactly in integers (the product of the two int8/int4 codes) and scaled
// once by d_weight * d_act in float, as llama.cpp's generic vec_dot functions do; blocks are
// accumulated left to right in one float. These are the oracle for the SIMD paths.
#include "kernels/kernels_impl.h"
#include "util/half.h"

#include <cstring>

namespace sluice::kern {
namespace {

// Applies a one-row kernel to n_rows rows `stride` bytes apart.
template <float (*row_fn)(int64_t, const uint8_t *, const void *)>
void for_rows(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out) {
    const auto * base = static_cast<const uint8_t *>(w);
    for (int64_t r = 0; r < n_rows; ++r) {
        out[r] = row_fn(n, base + static_cast<uint64_t>(r) * stride, act);
    }
}

float row_f32(int64_t n, const uint8_t * w, const void * act) {
    const auto * a   = static_cast<const float *>(act);
    float        acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        float wi;
        std::memcpy(&wi, w + 4 * i, 4);
        acc += wi * a[i];
    }
    return acc;
}

float row_f16(int64_t n, const uint8_t * w, const void * act) {
    const auto * a   = static_cast<const float *>(act);
    float        acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, w + 2 * i, 2);
        acc += f16_to_f32(h) * a[i];
    }
    return acc;
}

float row_bf16(int64_t n, const uint8_t * w, const void * act) {
    const auto * a   = static_cast<const float *>(act);
    float        acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, w + 2 * i, 2);
        acc += bf16_to_f32(h) * a[i];
    }
    return acc;
}

float row_q4_0(int64_t n, const uint8_t * w, const void * act) {
    const auto * x   = reinterpret_cast<const block_q4_0 *>(w);
    const auto * y   = static_cast<const block_q8_0 *>(act);
    float        acc = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; ++b) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; ++j) {
            isum += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK4_0 / 2];
        }
        acc += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
    }
    return acc;
}

float row_q4_1(int64_t n, const uint8_t * w, const void * act) {
    const auto * x   = reinterpret_cast<const block_q4_1 *>(w);
    const auto * y   = static_cast<const block_q8_1 *>(act);
    float        acc = 0.0f;
    for (int64_t b = 0; b < n / QK4_1; ++b) {
        int isum = 0;
        for (int j = 0; j < QK4_1 / 2; ++j) {
            isum += (x[b].qs[j] & 0xF) * y[b].qs[j];
            isum += (x[b].qs[j] >> 4) * y[b].qs[j + QK4_1 / 2];
        }
        // x = q*d + m: sum(x*a) = d*da*sum(q*qa) + m*(da*sum(qa)), the last factor being s.
        acc += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
        acc += f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
    }
    return acc;
}

// The 5-bit code of element j of a Q5 block: low nibble from qs, bit 4 from bit j of qh.
inline int q5_code(const uint8_t * qs, uint32_t qh, int j) {
    const int nib = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return nib | static_cast<int>(((qh >> j) & 1u) << 4);
}

float row_q5_0(int64_t n, const uint8_t * w, const void * act) {
    const auto * x   = reinterpret_cast<const block_q5_0 *>(w);
    const auto * y   = static_cast<const block_q8_0 *>(act);
    float        acc = 0.0f;
    for (int64_t b = 0; b < n / QK5_0; ++b) {
        uint32_t qh;
        std::memcpy(&qh, x[b].qh, 4);
        int isum = 0;
        for (int j = 0; j < QK5_0; ++j) {
            isum += (q5_code(x[b].qs, qh, j) - 16) * y[b].qs[j];
        }
        acc += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
    }
    return acc;
}

float row_q5_1(int64_t n, const uint8_t * w, const void * act) {
    const auto * x   = reinterpret_cast<const block_q5_1 *>(w);
    const auto * y   = static_cast<const block_q8_1 *>(act);
    float        acc = 0.0f;
    for (int64_t b = 0; b < n / QK5_1; ++b) {
        uint32_t qh;
        std::memcpy(&qh, x[b].qh, 4);
        int isum = 0;
        for (int j = 0; j < QK5_1; ++j) {
            isum += q5_code(x[b].qs, qh, j) * y[b].qs[j];
        }
        acc += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
        acc += f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
    }
    return acc;
}

float row_q8_0(int64_t n, const uint8_t * w, const void * act) {
    const auto * x   = reinterpret_cast<const block_q8_0 *>(w);
    const auto * y   = static_cast<const block_q8_0 *>(act);
    float        acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        int isum = 0;
        for (int j = 0; j < QK8_0; ++j) {
            isum += x[b].qs[j] * y[b].qs[j];
        }
        acc += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
    }
    return acc;
}

float row_mxfp4(int64_t n, const uint8_t * w, const void * act) {
    const auto * x   = reinterpret_cast<const block_mxfp4 *>(w);
    const auto * y   = static_cast<const block_q8_0 *>(act);
    float        acc = 0.0f;
    for (int64_t b = 0; b < n / QK_MXFP4; ++b) {
        int isum = 0;
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            isum += kvalues_mxfp4[x[b].qs[j] & 0xF] * y[b].qs[j];
            isum += kvalues_mxfp4[x[b].qs[j] >> 4] * y[b].qs[j + QK_MXFP4 / 2];
        }
        acc += (e8m0_to_f32_half(x[b].e) * f16_to_f32(y[b].d)) * static_cast<float>(isum);
    }
    return acc;
}

}  // namespace

void dot_f32_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_f32>(n, w, s, r, a, o);
}
void dot_f16_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_f16>(n, w, s, r, a, o);
}
void dot_bf16_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_bf16>(n, w, s, r, a, o);
}
void dot_q4_0_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_q4_0>(n, w, s, r, a, o);
}
void dot_q4_1_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_q4_1>(n, w, s, r, a, o);
}
void dot_q5_0_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_q5_0>(n, w, s, r, a, o);
}
void dot_q5_1_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_q5_1>(n, w, s, r, a, o);
}
void dot_q8_0_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_q8_0>(n, w, s, r, a, o);
}
void dot_mxfp4_ref(int64_t n, const void * w, uint64_t s, int64_t r, const void * a, float * o) {
    for_rows<row_mxfp4>(n, w, s, r, a, o);
}

}  // namespace sluice::kern
