// ISA selection and the kernel registry: CPUID decides once what the CPU runs, a caller may
// force a lower (or equal) ISA, and find_kernels walks the per-ISA tables from the requested
// ISA downwards so an ISA without its own kernel for a type falls back to the next one.
#include "kernels/kernels_impl.h"
#include "util/error.h"

#include <algorithm>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace sluice {

std::string_view isa_name(isa i) {
    switch (i) {
        case isa::SCALAR:
            return "scalar";
        case isa::AVX2:
            return "avx2";
        case isa::AVX512:
            return "avx512";
    }
    return "unknown";
}

std::optional<isa> parse_isa_name(std::string_view name) {
    for (isa i : {isa::SCALAR, isa::AVX2, isa::AVX512}) {
        if (name == isa_name(i)) {
            return i;
        }
    }
    return std::nullopt;
}

namespace {

#if defined(__x86_64__) || defined(__i386__)
// F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports has no "f16c".
bool cpu_has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}
#endif

isa cpu_best_isa() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // The AVX-512 files are compiled with F/BW/VL/DQ/VNNI (the compiler may use any of them),
    // the AVX2 files with AVX2/FMA/F16C; each table is used only where all of its set is present.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma") && cpu_has_f16c()) {
        return isa::AVX512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c()) {
        return isa::AVX2;
    }
#endif
    return isa::SCALAR;
}

isa cached_cpu_isa() {
    static const isa best = cpu_best_isa();
    return best;
}

}  // namespace

bool isa_supported(isa i) {
    return static_cast<int>(i) <= static_cast<int>(cached_cpu_isa());
}

isa detect_isa() {
    return cached_cpu_isa();
}

isa choose_isa(std::optional<isa> requested) {
    if (!requested) {
        return cached_cpu_isa();
    }
    if (!isa_supported(*requested)) {
        fail("ISA {} requested, but this CPU cannot run it (best is {})", isa_name(*requested),
             isa_name(cached_cpu_isa()));
    }
    return *requested;
}

uint64_t act_bytes(act_format f, int64_t n) {
    const auto un = static_cast<uint64_t>(n);
    switch (f) {
        case act_format::F32:
            return un * sizeof(float);
        case act_format::Q8_0:
            return un / QK8_0 * sizeof(block_q8_0);
        case act_format::Q8_1:
            return un / QK8_1 * sizeof(block_q8_1);
        case act_format::Q8_K:
            return un / QK_K * sizeof(block_q8_K);
    }
    return 0;
}

namespace kern {

namespace {

const type_kernels * entry(const kernel_table & table, ggml_type t) {
    switch (t) {
        case ggml_type::IQ2_XXS:
            return &table.iq2_xxs;
        case ggml_type::IQ2_XS:
            return &table.iq2_xs;
        case ggml_type::IQ2_S:
            return &table.iq2_s;
        case ggml_type::IQ3_XXS:
            return &table.iq3_xxs;
        case ggml_type::IQ3_S:
            return &table.iq3_s;
        case ggml_type::IQ1_S:
            return &table.iq1_s;
        case ggml_type::IQ1_M:
            return &table.iq1_m;
        case ggml_type::IQ4_NL:
            return &table.iq4_nl;
        case ggml_type::IQ4_XS:
            return &table.iq4_xs;
        case ggml_type::TQ1_0:
            return &table.tq1_0;
        case ggml_type::TQ2_0:
            return &table.tq2_0;
        case ggml_type::F32:
            return &table.f32;
        case ggml_type::F16:
            return &table.f16;
        case ggml_type::BF16:
            return &table.bf16;
        case ggml_type::Q4_0:
            return &table.q4_0;
        case ggml_type::Q4_1:
            return &table.q4_1;
        case ggml_type::Q5_0:
            return &table.q5_0;
        case ggml_type::Q5_1:
            return &table.q5_1;
        case ggml_type::Q8_0:
            return &table.q8_0;
        case ggml_type::MXFP4:
            return &table.mxfp4;
        case ggml_type::Q2_K:
            return &table.q2_k;
        case ggml_type::Q3_K:
            return &table.q3_k;
        case ggml_type::Q4_K:
            return &table.q4_k;
        case ggml_type::Q5_K:
            return &table.q5_k;
        case ggml_type::Q6_K:
            return &table.q6_k;
        default:
            return nullptr;
    }
}

}  // namespace

const type_kernels * lookup(const kernel_table & table, ggml_type t) {
    const type_kernels * k = entry(table, t);
    return k != nullptr && k->dot_rows != nullptr ? k : nullptr;
}

const type_kernels * scalar_kernels(ggml_type t) {
    static const kernel_table table = {
        .f32     = {act_format::F32, quantize_act_f32_ref, dot_f32_ref},
        .f16     = {act_format::F32, quantize_act_f32_ref, dot_f16_ref},
        .bf16    = {act_format::F32, quantize_act_f32_ref, dot_bf16_ref},
        .q4_0    = {act_format::Q8_0, quantize_act_q8_0_ref, dot_q4_0_ref},
        .q4_1    = {act_format::Q8_1, quantize_act_q8_1_ref, dot_q4_1_ref},
        .q5_0    = {act_format::Q8_0, quantize_act_q8_0_ref, dot_q5_0_ref},
        .q5_1    = {act_format::Q8_1, quantize_act_q8_1_ref, dot_q5_1_ref},
        .q8_0    = {act_format::Q8_0, quantize_act_q8_0_ref, dot_q8_0_ref},
        .mxfp4   = {act_format::Q8_0, quantize_act_q8_0_ref, dot_mxfp4_ref},
        .q2_k    = {act_format::Q8_K, quantize_act_q8_k_ref, dot_q2_k_ref},
        .q3_k    = {act_format::Q8_K, quantize_act_q8_k_ref, dot_q3_k_ref},
        .q4_k    = {act_format::Q8_K, quantize_act_q8_k_ref, dot_q4_k_ref},
        .q5_k    = {act_format::Q8_K, quantize_act_q8_k_ref, dot_q5_k_ref},
        .q6_k    = {act_format::Q8_K, quantize_act_q8_k_ref, dot_q6_k_ref},
        .iq2_xxs = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq2_xxs_ref},
        .iq2_xs  = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq2_xs_ref},
        .iq2_s   = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq2_s_ref},
        .iq3_xxs = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq3_xxs_ref},
        .iq3_s   = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq3_s_ref},
        .iq1_s   = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq1_s_ref},
        .iq1_m   = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq1_m_ref},
        .iq4_nl  = {act_format::Q8_0, quantize_act_q8_0_ref, dot_iq4_nl_ref},
        .iq4_xs  = {act_format::Q8_K, quantize_act_q8_k_ref, dot_iq4_xs_ref},
        .tq1_0   = {act_format::Q8_K, quantize_act_q8_k_ref, dot_tq1_0_ref},
        .tq2_0   = {act_format::Q8_K, quantize_act_q8_k_ref, dot_tq2_0_ref},
    };
    return lookup(table, t);
}

#if !(defined(__x86_64__) || defined(__i386__))
const type_kernels * avx2_kernels(ggml_type) {
    return nullptr;
}
const type_kernels * avx512_kernels(ggml_type) {
    return nullptr;
}
#endif

}  // namespace kern

const type_kernels * find_kernels(ggml_type t, isa i) {
    // Never hand out kernels the CPU cannot run, whatever was asked for.
    const int top = std::min(static_cast<int>(i), static_cast<int>(cached_cpu_isa()));
    if (top >= static_cast<int>(isa::AVX512)) {
        if (const type_kernels * k = kern::avx512_kernels(t)) {
            return k;
        }
    }
    if (top >= static_cast<int>(isa::AVX2)) {
        if (const type_kernels * k = kern::avx2_kernels(t)) {
            return k;
        }
    }
    return kern::scalar_kernels(t);
}

}  // namespace sluice
