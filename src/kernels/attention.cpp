// Flash attention's block step: the scalar reference (any head_dim; the oracle of the SIMD
// paths' tests) and the dispatch to the x86 paths (x86/attention_lanes.h).
#include "kernels/kernels_impl.h"
#include "util/error.h"
#include "util/half.h"

#include <algorithm>
#include <cmath>

namespace sluice {
namespace kern {

void attend_block_ref(ggml_type t, const attention_block_args & a) {
    const bool f16 = t == ggml_type::F16;
    // Element (position j of the block, dim i) of the keys' [dims][16] groups and the value rows.
    auto at = [f16](const void * base, uint64_t offset, int64_t e) {
        const auto * p = static_cast<const uint8_t *>(base) + offset;
        return f16 ? f16_to_f32(reinterpret_cast<const uint16_t *>(p)[e]) : reinterpret_cast<const float *>(p)[e];
    };
    auto key = [&](int64_t j, int64_t i) {
        return at(a.keys, (j / k_key_lanes) * a.key_group_stride, i * k_key_lanes + j % k_key_lanes);
    };
    auto          value = [&](int64_t j, int64_t i) { return at(a.values, j * a.value_stride, i); };
    const int64_t d     = a.head_dim;
    float *       p     = a.scratch;  // [k_attention_block]
    for (int64_t v = 0; v < a.n_q; ++v) {
        const int64_t lo = a.lo[v], hi = a.hi[v];
        if (lo >= hi) {
            continue;  // nothing visible: the state stays as it is
        }
        const float * q     = a.q + v * d;
        const float   m_old = a.m[v];
        float         m_new = m_old;
        for (int64_t j = lo; j < hi; ++j) {
            float s = 0.0f;
            for (int64_t i = 0; i < d; ++i) {
                s += q[i] * key(j, i);
            }
            p[j]  = s * a.scale;
            m_new = std::max(m_new, p[j]);
        }
        float l_block = 0.0f;
        for (int64_t j = lo; j < hi; ++j) {
            p[j] = std::exp(p[j] - m_new);
            l_block += p[j];
        }
        const float alpha = m_old == -INFINITY ? 0.0f : std::exp(m_old - m_new);
        float *     acc   = a.acc + v * d;
        for (int64_t i = 0; i < d; ++i) {
            float sum = acc[i] * alpha;
            for (int64_t j = lo; j < hi; ++j) {
                sum += p[j] * value(j, i);
            }
            acc[i] = sum;
        }
        a.l[v] = a.l[v] * alpha + l_block;
        a.m[v] = m_new;
    }
}

}  // namespace kern

int64_t attention_block_scratch(int64_t n_q) {
    // p: [n_q][64] softmax weights, then [n_q] rescale factors rounded up to whole vectors
    return n_q * k_attention_block + (n_q + 15) / 16 * 16;
}

isa attention_isa(isa i, int64_t head_dim) {
#if defined(__x86_64__) || defined(__i386__)
    if (head_dim % 16 == 0) {
        return i;
    }
#endif
    (void)head_dim;
    return isa::SCALAR;
}

void attend_block(ggml_type t, isa i, const attention_block_args & a) {
    if (t != ggml_type::F32 && t != ggml_type::F16) {
        fail("attention: a kv cache of {} is not supported (f32, f16)", type_name(t));
    }
    switch (attention_isa(i, a.head_dim)) {
#if defined(__x86_64__) || defined(__i386__)
        case isa::AVX512:
            kern::attend_block_avx512(t, a);
            return;
        case isa::AVX2:
            kern::attend_block_avx2(t, a);
            return;
#endif
        default:
            kern::attend_block_ref(t, a);
            return;
    }
}

}  // namespace sluice
