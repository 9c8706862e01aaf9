// Scalar activation quantization: F32 rows into the 8-bit block formats the integer dot
// products consume. These define the bytes; the SIMD versions must reproduce them exactly,
// so the rounding is round-half-even (what cvtps2dq does), not llama.cpp's roundf.
#include "kernels/kernels_impl.h"
#include "util/half.h"

#include <cmath>
#include <cstring>

namespace sluice::kern {
namespace {

// Quantizes n values with one scale: returns d = amax / 127 and writes q = rne(x / d).
float quantize_group(const float * x, int8_t * q, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) {
        amax = std::fmax(amax, std::fabs(x[j]));
    }
    const float d  = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; ++j) {
        // |x * id| <= 127 up to one rounding, which rne keeps at 127.
        q[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
    }
    return d;
}

}  // namespace

void quantize_act_f32_ref(const float * x, void * dst, int64_t n) {
    std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
}

void quantize_act_q8_0_ref(const float * x, void * dst, int64_t n) {
    auto * y = static_cast<block_q8_0 *>(dst);
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        const float d = quantize_group(x + b * QK8_0, y[b].qs, QK8_0);
        y[b].d        = f32_to_f16(d);
    }
}

void quantize_act_q8_1_ref(const float * x, void * dst, int64_t n) {
    auto * y = static_cast<block_q8_1 *>(dst);
    for (int64_t b = 0; b < n / QK8_1; ++b) {
        const float d   = quantize_group(x + b * QK8_1, y[b].qs, QK8_1);
        int         sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            sum += y[b].qs[j];
        }
        y[b].d = f32_to_f16(d);
        y[b].s = f32_to_f16(d * static_cast<float>(sum));
    }
}

void quantize_act_q8_k_ref(const float * x, void * dst, int64_t n) {
    auto * y = static_cast<block_q8_K *>(dst);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        y[b].d = quantize_group(x + b * QK_K, y[b].qs, QK_K);
        for (int g = 0; g < QK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) {
                sum += y[b].qs[16 * g + j];
            }
            y[b].bsums[g] = static_cast<int16_t>(sum);
        }
    }
}

}  // namespace sluice::kern
