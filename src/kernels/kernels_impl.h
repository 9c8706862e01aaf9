// Internal to the kernels room: the scalar reference kernels (the oracle of the tests), the
// per-ISA kernel tables and the small format helpers every implementation shares.
//
// Rule for every dot_rows implementation: the arithmetic applied to one row never depends on
// how many rows are processed together or where the row sits in the call. That is what makes
// matvec, matmul and any thread split give bit-identical results for one ISA.
#pragma once

#include "kernels/kernels.h"
#include "tensor/blocks.h"

#include <bit>
#include <cstdint>

namespace sluice::kern {

using quantize_act_fn = void (*)(const float * x, void * dst, int64_t n);
using dot_rows_fn     = void (*)(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, const void * act,
                             float * out);
using dot_tile_fn     = void (*)(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, const void * act,
                             uint64_t act_stride, int64_t n_tok, float * out, uint64_t out_stride, void * scratch);

// A multi-token product done token by token: out[t * out_stride + r] = rows(row r, token t),
// what matmul_runner runs for a type without dot_tile and what a dot_tile does below the
// token count its tile pays off at. static: files built for different ISAs each keep their
// own copy (see x86/x86_common.h).
static inline void dot_rows_per_token(dot_rows_fn rows, int64_t n, const void * w, uint64_t stride, int64_t n_rows,
                                      const void * act, uint64_t act_stride, int64_t n_tok, float * out,
                                      uint64_t out_stride) {
    for (int64_t t = 0; t < n_tok; ++t) {
        rows(n, w, stride, n_rows, static_cast<const uint8_t *>(act) + static_cast<uint64_t>(t) * act_stride,
             out + static_cast<uint64_t>(t) * out_stride);
    }
}

// ---- scalar activation quantization (ref_act.cpp) ----
// Q8_0 / Q8_1: per 32 values d = amax / 127, q = round-half-even(x * (1/d)), d stored as F16
// (Q8_1 adds s = F16(d * sum(q))). Q8_K: the same per 256 values with d kept as float, plus
// the sum of every 16 q. The SIMD versions produce the same bytes.
void quantize_act_f32_ref(const float * x, void * dst, int64_t n);
void quantize_act_q8_0_ref(const float * x, void * dst, int64_t n);
void quantize_act_q8_1_ref(const float * x, void * dst, int64_t n);
void quantize_act_q8_k_ref(const float * x, void * dst, int64_t n);

// ---- scalar dot products (ref_dot.cpp, ref_dot_k.cpp) ----
void dot_f32_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_f16_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_bf16_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q4_0_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q4_1_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q5_0_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q5_1_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q8_0_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_mxfp4_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q2_k_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q3_k_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q4_k_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q5_k_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_q6_k_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
// i-quants and ternary types (ref_dot_iq.cpp); IQ4_NL takes Q8_0, the others Q8_K
void dot_iq2_xxs_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_xs_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_s_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq3_xxs_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq3_s_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq1_s_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq1_m_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq4_nl_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq4_xs_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_tq1_0_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_tq2_0_ref(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);

// ---- weighted row sums (row_sum.cpp, x86/avx2_row_sum.cpp) ----
void weighted_row_sum_ref(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                          float * out);
void weighted_row_sum_avx2(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                           float * out);

// ---- SwiGLU's activation (swiglu.cpp, x86/avx2_swiglu.cpp, x86/avx512_swiglu.cpp) ----
void swiglu_ref(float * g, const float * u, int64_t n);
void swiglu_avx2(float * g, const float * u, int64_t n);
void swiglu_avx512(float * g, const float * u, int64_t n);

// ---- F32 -> F16 (convert.cpp, x86/avx2_convert.cpp) ----
void to_f16_avx2(const float * x, uint16_t * y, int64_t n);

// ---- flash attention's block step (attention.cpp, x86/avx2_attention.cpp, x86/avx512_attention.cpp) ----
void attend_block_ref(ggml_type t, const attention_block_args & a);
void attend_block_avx2(ggml_type t, const attention_block_args & a);    // head_dim % 16 == 0
void attend_block_avx512(ggml_type t, const attention_block_args & a);  // head_dim % 16 == 0

// ---- per-ISA tables ----
// Every ISA's kernels, one entry per computable type; `lookup` maps a type to its entry, so
// the type -> entry mapping lives once (isa.cpp) and a new type is one field here. An ISA's
// table may leave a field empty (designated initializers): that ISA then has no kernel of its
// own for the type and the registry falls back to the next lower one.
struct kernel_table {
    type_kernels f32{}, f16{}, bf16{}, q4_0{}, q4_1{}, q5_0{}, q5_1{}, q8_0{}, mxfp4{};
    type_kernels q2_k{}, q3_k{}, q4_k{}, q5_k{}, q6_k{};
    type_kernels iq2_xxs{}, iq2_xs{}, iq2_s{}, iq3_xxs{}, iq3_s{}, iq1_s{}, iq1_m{}, iq4_nl{}, iq4_xs{};
    type_kernels tq1_0{}, tq2_0{};
};
const type_kernels * lookup(const kernel_table & table, ggml_type t);  // nullptr: none in this table

// ---- per-ISA tables (x86/avx2_*.cpp, x86/avx512_*.cpp) ----
// Each returns the ISA's kernels for t, or nullptr where that ISA has none of its own (the
// registry then falls back to a lower ISA). Only called after the CPUID check.
const type_kernels * scalar_kernels(ggml_type t);
const type_kernels * avx2_kernels(ggml_type t);
const type_kernels * avx512_kernels(ggml_type t);

// AVX2 activation quantizers, shared by the AVX-512 table (bit-identical to the scalar ones).
void quantize_act_q8_0_avx2(const float * x, void * dst, int64_t n);
void quantize_act_q8_1_avx2(const float * x, void * dst, int64_t n);
void quantize_act_q8_k_avx2(const float * x, void * dst, int64_t n);

// i-quant and ternary kernels with Q8_K activations (x86/avx2_dot_iq.cpp, x86/avx512_dot_iq.cpp);
// IQ4_NL, a 32-element Q8_0 type, lives with Q4_0 in avx2_dot.cpp / avx512_dot.cpp.
void dot_iq2_xxs_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_xs_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_s_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq3_xxs_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq3_s_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq1_s_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq1_m_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq4_xs_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_tq1_0_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_tq2_0_avx2(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_xxs_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_xs_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq2_s_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq3_xxs_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq3_s_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq1_s_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq1_m_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_iq4_xs_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_tq1_0_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);
void dot_tq2_0_avx512(int64_t n, const void * w, uint64_t stride, int64_t n_rows, const void * act, float * out);

// ---- format helpers ----

// MXFP4's E8M0 exponent as 2^(e - 128): half the block scale, because kvalues_mxfp4 holds the
// E2M1 values doubled. Exact for every e (e < 2 gives the float subnormals).
inline float e8m0_to_f32_half(uint8_t e) {
    const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
    return std::bit_cast<float>(bits);
}

// Unpacks the 6-bit scales and mins of Q4_K / Q5_K (12 bytes) into sc[8] and m[8]
// (llama.cpp's get_scale_min_k4 for all eight sub-blocks at once).
inline void unpack_scales_k4(const uint8_t * s, uint8_t * sc, uint8_t * m) {
    for (int j = 0; j < 4; ++j) {
        sc[j]     = s[j] & 63;
        m[j]      = s[j + 4] & 63;
        sc[j + 4] = static_cast<uint8_t>((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
        m[j + 4]  = static_cast<uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

// Unpacks the sixteen 6-bit scales of Q3_K (12 bytes) into sc[16], already minus 32.
inline void unpack_scales_q3_k(const uint8_t * s, int8_t * sc) {
    for (int j = 0; j < 16; ++j) {
        const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j]        = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
}

}  // namespace sluice::kern
