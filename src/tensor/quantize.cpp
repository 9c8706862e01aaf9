// F32 -> stored types. F16 / BF16 / Q8_0 / Q4_0 follow llama.cpp's reference quantizers to the
// byte (same scale formula, same rounding), so files sluice writes match llama-quantize's for
// these types; the K-quants search their scales (quantize_k.cpp).
#include "tensor/quantize.h"

#include "tensor/blocks.h"
#include "tensor/quantize_iq.h"
#include "tensor/quantize_k.h"
#include "util/error.h"
#include "util/half.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sluice {
namespace {

void store_f16(uint8_t * p, float f) {
    const uint16_t h = f32_to_f16(f);
    std::memcpy(p, &h, sizeof h);
}

// Q8_0: d = amax / 127, q = round(x / d) half away from zero (roundf), as ggml's reference.
void quantize_q8_0(const float * x, uint8_t * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK8_0, y += sizeof(block_q8_0)) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; ++j) {
            amax = std::max(amax, std::fabs(x[j]));
        }
        const float d  = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_f16(y + offsetof(block_q8_0, d), d);
        auto * qs = reinterpret_cast<int8_t *>(y + offsetof(block_q8_0, qs));
        for (int j = 0; j < QK8_0; ++j) {
            float r = std::round(x[j] * id);
            // only non-finite input gets here out of range; keep the cast defined
            r     = r == r ? std::clamp(r, -127.0f, 127.0f) : 0.0f;
            qs[j] = static_cast<int8_t>(r);
        }
    }
}

// Q4_0: the value of largest magnitude (first one on ties) maps to -8, d = max / -8, and
// q = min(15, trunc(x / d + 8.5)), as ggml's reference.
void quantize_q4_0(const float * x, uint8_t * y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK4_0, y += sizeof(block_q4_0)) {
        float amax = 0.0f;
        float max  = 0.0f;
        for (int j = 0; j < QK4_0; ++j) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max  = x[j];
            }
        }
        const float d  = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_f16(y + offsetof(block_q4_0, d), d);
        uint8_t * qs = y + offsetof(block_q4_0, qs);
        auto      q4 = [&](float v) {
            // trunc(min(v, 15)) == min(15, trunc(v)) for v >= 0; the guard only catches NaN
            v = v >= 0.0f ? std::min(v, 15.0f) : 0.0f;
            return static_cast<uint8_t>(v);
        };
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const uint8_t q0 = q4(x[j] * id + 8.5f);
            const uint8_t q1 = q4(x[j + QK4_0 / 2] * id + 8.5f);
            qs[j]            = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

}  // namespace

bool can_quantize(ggml_type t) {
    switch (t) {
        case ggml_type::F32:
        case ggml_type::F16:
        case ggml_type::BF16:
        case ggml_type::Q8_0:
        case ggml_type::Q4_0:
        case ggml_type::Q2_K:
        case ggml_type::Q3_K:
        case ggml_type::Q4_K:
        case ggml_type::Q5_K:
        case ggml_type::Q6_K:
        case ggml_type::IQ4_NL:
        case ggml_type::IQ4_XS:
        case ggml_type::TQ1_0:
        case ggml_type::TQ2_0:
            return true;
        default:
            return false;
    }
}

std::string_view quantizable_type_names() {
    return "f32, f16, bf16, q8_0, q4_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, tq1_0, tq2_0";
}

void quantize_row(ggml_type t, const float * src, void * dst, int64_t n) {
    const type_traits & tr = traits(t);
    if (!can_quantize(t)) {
        fail("quantize_row: cannot quantize to type {}", tr.name);
    }
    if (n < 0 || n % tr.block_size != 0) {
        fail("quantize_row: {} elements is not a multiple of the {} block size {}", n, tr.name, tr.block_size);
    }
    auto *        y  = static_cast<uint8_t *>(dst);
    const int64_t nb = n / tr.block_size;
    switch (t) {
        case ggml_type::F32:
            if (n > 0) {
                std::memcpy(y, src, static_cast<size_t>(n) * sizeof(float));
            }
            return;
        case ggml_type::F16:
            for (int64_t i = 0; i < n; ++i) {
                store_f16(y + 2 * i, src[i]);
            }
            return;
        case ggml_type::BF16:
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = f32_to_bf16(src[i]);
                std::memcpy(y + 2 * i, &h, sizeof h);
            }
            return;
        case ggml_type::Q8_0:
            return quantize_q8_0(src, y, nb);
        case ggml_type::Q4_0:
            return quantize_q4_0(src, y, nb);
        case ggml_type::Q2_K:
            return quantize_q2_k(src, y, nb);
        case ggml_type::Q3_K:
            return quantize_q3_k(src, y, nb);
        case ggml_type::Q4_K:
            return quantize_q4_k(src, y, nb);
        case ggml_type::Q5_K:
            return quantize_q5_k(src, y, nb);
        case ggml_type::Q6_K:
            return quantize_q6_k(src, y, nb);
        case ggml_type::IQ4_NL:
            return quantize_iq4_nl(src, y, nb);
        case ggml_type::IQ4_XS:
            return quantize_iq4_xs(src, y, nb);
        case ggml_type::TQ1_0:
            return quantize_tq1_0(src, y, nb);
        case ggml_type::TQ2_0:
            return quantize_tq2_0(src, y, nb);
        default:
            break;
    }
    fail("quantize_row: type {} has no quantizer", tr.name);
}

}  // namespace sluice
