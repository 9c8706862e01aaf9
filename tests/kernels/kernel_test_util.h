// Shared by the kernel tests: random weights of every computable type (through quantize_row
// where it exists, else random valid blocks), the exact values of quantized activations, and
// the magnitudes the error bounds are built from.
#pragma once

#include "kernels/kernels.h"
#include "tensor/blocks.h"
#include "tensor/quantize.h"
#include "util/half.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace sluice::test {

constexpr double k_eps32 = 1.0 / (1 << 24);  // unit roundoff of float32

inline const std::vector<ggml_type> & all_types() {
    static const std::vector<ggml_type> types = {
        ggml_type::F32,    ggml_type::F16,    ggml_type::BF16,    ggml_type::Q4_0,  ggml_type::Q4_1,
        ggml_type::Q5_0,   ggml_type::Q5_1,   ggml_type::Q8_0,    ggml_type::Q2_K,  ggml_type::Q3_K,
        ggml_type::Q4_K,   ggml_type::Q5_K,   ggml_type::Q6_K,    ggml_type::MXFP4, ggml_type::IQ2_XXS,
        ggml_type::IQ2_XS, ggml_type::IQ2_S,  ggml_type::IQ3_XXS, ggml_type::IQ3_S, ggml_type::IQ1_S,
        ggml_type::IQ1_M,  ggml_type::IQ4_NL, ggml_type::IQ4_XS,  ggml_type::TQ1_0, ggml_type::TQ2_0,
    };
    return types;
}

inline std::vector<isa> supported_isas() {
    std::vector<isa> out;
    for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
        if (isa_supported(i)) {
            out.push_back(i);
        }
    }
    return out;
}

// Activations with a different magnitude per 32 values (so block scales differ) and, now and
// then, an all-zero block (d = 0).
inline std::vector<float> random_activations(std::mt19937 & rng, int64_t n) {
    std::normal_distribution<float>       normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> mag(0.05f, 4.0f);
    std::vector<float>                    x(static_cast<size_t>(n));
    for (int64_t b = 0; b < n; b += 32) {
        const float m    = mag(rng);
        const bool  zero = rng() % 11 == 0;
        for (int64_t i = b; i < std::min<int64_t>(b + 32, n); ++i) {
            x[static_cast<size_t>(i)] = zero ? 0.0f : normal(rng) * m;
        }
    }
    return x;
}

inline void put_f16(uint8_t * p, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// A random valid block of type t at p: random code bytes, finite random scales.
inline void random_block(ggml_type t, uint8_t * p, std::mt19937 & rng) {
    const int64_t size = traits(t).type_size;
    for (int64_t i = 0; i < size; ++i) {
        p[i] = static_cast<uint8_t>(rng());
    }
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const float                           sign = rng() % 2 ? 1.0f : -1.0f;
    switch (t) {
        case ggml_type::Q4_0:
        case ggml_type::Q5_0:
        case ggml_type::Q8_0:
            put_f16(p, sign * 0.05f * u(rng));
            break;
        case ggml_type::Q4_1:
        case ggml_type::Q5_1:
            put_f16(p, 0.05f * u(rng));
            put_f16(p + 2, -0.5f * u(rng));
            break;
        case ggml_type::MXFP4:
            p[0] = static_cast<uint8_t>(118 + rng() % 16);
            break;
        case ggml_type::Q2_K:
            put_f16(p + offsetof(block_q2_K, d), 0.02f * u(rng));
            put_f16(p + offsetof(block_q2_K, dmin), 0.02f * u(rng));
            break;
        case ggml_type::Q3_K:
            put_f16(p + offsetof(block_q3_K, d), sign * 0.01f * u(rng));
            break;
        case ggml_type::Q4_K:
        case ggml_type::Q5_K:
            put_f16(p, 0.01f * u(rng));
            put_f16(p + 2, 0.01f * u(rng));
            break;
        case ggml_type::Q6_K:
            put_f16(p + offsetof(block_q6_K, d), sign * 0.001f * u(rng));
            break;
        case ggml_type::IQ2_XXS:
        case ggml_type::IQ2_XS:
        case ggml_type::IQ2_S:
        case ggml_type::IQ3_XXS:
        case ggml_type::IQ3_S:
        case ggml_type::IQ1_S:
        case ggml_type::IQ4_NL:
        case ggml_type::IQ4_XS:
            put_f16(p, sign * 0.001f * u(rng));  // d leads these blocks
            break;
        case ggml_type::IQ1_M: {  // d's four nibbles sit in bits 12..15 of the scales' u16s
            const uint16_t d = f32_to_f16(sign * 0.01f * u(rng));
            for (int k = 0; k < 4; ++k) {
                uint8_t * hi = p + offsetof(block_iq1_m, scales) + 2 * k + 1;
                *hi          = static_cast<uint8_t>((*hi & 0x0f) | (((d >> (4 * k)) & 0xf) << 4));
            }
            break;
        }
        case ggml_type::TQ1_0:
            put_f16(p + offsetof(block_tq1_0, d), sign * 0.05f * u(rng));
            break;
        case ggml_type::TQ2_0:
            put_f16(p + offsetof(block_tq2_0, d), sign * 0.05f * u(rng));
            break;
        default:
            break;
    }
}

struct weights {
    ggml_type            type;
    int64_t              rows;
    int64_t              cols;
    uint64_t             stride;
    std::vector<uint8_t> data;

    weight_matrix   view() const { return {type, rows, cols, stride, data.data()}; }
    const uint8_t * row(int64_t r) const { return data.data() + static_cast<uint64_t>(r) * stride; }
};

// rows x cols of type t, rows `pad` bytes apart beyond their size (keep it even: file rows start
// 2-byte aligned, as the blocks' f16 scales need). With `quantize` and a type
// quantize_row supports, the rows are quantized Gaussian data; otherwise random valid blocks
// (float types always come from random floats, so they hold no inf or nan).
inline weights make_weights(ggml_type t, int64_t rows, int64_t cols, std::mt19937 & rng, bool quantize,
                            uint64_t pad = 0) {
    weights w{t, rows, cols, row_bytes(t, cols) + pad, {}};
    w.data.assign(w.stride * static_cast<uint64_t>(rows), 0);
    const bool                      is_float = t == ggml_type::F32 || t == ggml_type::F16 || t == ggml_type::BF16;
    std::normal_distribution<float> normal(0.0f, 0.5f);
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t * dst = w.data.data() + static_cast<uint64_t>(r) * w.stride;
        if ((quantize && can_quantize(t)) || is_float) {
            std::vector<float> x(static_cast<size_t>(cols));
            for (float & v : x) {
                v = normal(rng);
            }
            quantize_row(t, x.data(), dst, cols);
        } else {
            const int64_t bs = traits(t).block_size, ts = traits(t).type_size;
            for (int64_t b = 0; b < cols / bs; ++b) {
                random_block(t, dst + b * ts, rng);
            }
        }
    }
    return w;
}

inline std::vector<double> dequantized(ggml_type t, const uint8_t * row, int64_t n) {
    std::vector<float> f(static_cast<size_t>(n));
    dequantize_row(t, row, f.data(), n);
    return std::vector<double>(f.begin(), f.end());
}

// The magnitude of the min part of each weight (|m|, |dmin * m_j|; 0 for types without),
// so that |w| + 2 |min| bounds the sum of the magnitudes of the two terms the kernels form.
inline std::vector<double> min_parts(ggml_type t, const uint8_t * row, int64_t n) {
    std::vector<double> m(static_cast<size_t>(n), 0.0);
    auto                f16 = [](const uint8_t * p) {
        uint16_t h;
        std::memcpy(&h, p, 2);
        return static_cast<double>(f16_to_f32(h));
    };
    for (int64_t i = 0; i < n; ++i) {
        switch (t) {
            case ggml_type::Q4_1:
                m[i] = std::fabs(f16(row + (i / 32) * 20 + 2));
                break;
            case ggml_type::Q5_1:
                m[i] = std::fabs(f16(row + (i / 32) * 24 + 2));
                break;
            case ggml_type::Q2_K: {
                const uint8_t * b = row + (i / 256) * sizeof(block_q2_K);
                m[i]              = std::fabs(f16(b + offsetof(block_q2_K, dmin))) * (b[(i % 256) / 16] >> 4);
                break;
            }
            case ggml_type::Q4_K:
            case ggml_type::Q5_K: {
                const size_t    bs = t == ggml_type::Q4_K ? sizeof(block_q4_K) : sizeof(block_q5_K);
                const uint8_t * b  = row + (i / 256) * bs;
                const uint8_t * s  = b + 4;
                const int       j  = static_cast<int>((i % 256) / 32);
                const int       mj = j < 4 ? (s[j + 4] & 63) : ((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
                m[i]               = std::fabs(f16(b + 2)) * mj;
                break;
            }
            default:
                break;
        }
    }
    return m;
}

// The exact values of quantized activations and, per element, a bound on |value - x|.
struct act_values {
    std::vector<double> a;
    std::vector<double> err;
};

inline act_values activation_values(act_format f, const void * act, const float * x, int64_t n) {
    act_values v{std::vector<double>(static_cast<size_t>(n)), std::vector<double>(static_cast<size_t>(n), 0.0)};
    for (int64_t i = 0; i < n; ++i) {
        double d = 0;
        int    q = 0;
        switch (f) {
            case act_format::F32:
                v.a[i] = static_cast<const float *>(act)[i];
                continue;
            case act_format::Q8_0: {
                const auto & b = static_cast<const block_q8_0 *>(act)[i / 32];
                d = f16_to_f32(b.d), q = b.qs[i % 32];
                break;
            }
            case act_format::Q8_1: {
                const auto & b = static_cast<const block_q8_1 *>(act)[i / 32];
                d = f16_to_f32(b.d), q = b.qs[i % 32];
                break;
            }
            case act_format::Q8_K: {
                const auto & b = static_cast<const block_q8_K *>(act)[i / 256];
                d = b.d, q = b.qs[i % 256];
                break;
            }
        }
        v.a[i] = d * q;
        // Rounding to the code: d/2; the F16 scale adds up to |q| * d * 2^-11 (F16 half-ulp),
        // covered by 127 * d * 2^-11 < 0.063 d. A few float ulps on top for d itself.
        const double dmax = std::fabs(d) * (1.0 + 1e-6);
        v.err[i]          = dmax * (f == act_format::Q8_K ? 0.5 + 1e-6 : 0.5 + 127.0 / 2048.0);
        (void)x;
    }
    return v;
}

// For Q4_1 / Q5_1: the kernels add m * s with s = F16(da * sum(q)) rather than m * da * sum(q);
// this is the difference, summed over the blocks of a row, in exact arithmetic.
inline double q8_1_s_correction(ggml_type t, const uint8_t * row, const void * act, int64_t n) {
    if (t != ggml_type::Q4_1 && t != ggml_type::Q5_1) {
        return 0.0;
    }
    const size_t bs  = t == ggml_type::Q4_1 ? 20 : 24;
    double       sum = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
        const auto & y = static_cast<const block_q8_1 *>(act)[b];
        uint16_t     mh;
        std::memcpy(&mh, row + b * bs + 2, 2);
        int qsum = 0;
        for (int j = 0; j < 32; ++j) {
            qsum += y.qs[j];
        }
        sum += double(f16_to_f32(mh)) * (double(f16_to_f32(y.s)) - double(f16_to_f32(y.d)) * qsum);
    }
    return sum;
}

// Blocks of t in a row of n (floats count one element as a block).
inline int64_t blocks_in(ggml_type t, int64_t n) {
    return n / traits(t).block_size;
}

}  // namespace sluice::test
