#include "tensor/types.h"

#include <array>
#include <cctype>
#include <string>

namespace sluice {
namespace {

// Block geometry per type, from ggml's block structs (ggml-common.h). QK_K = 256.
constexpr std::array<type_traits, 32> k_types = {{
    {ggml_type::F32, "f32", 1, 4, true},
    {ggml_type::F16, "f16", 1, 2, true},
    {ggml_type::Q4_0, "q4_0", 32, 18, true},
    {ggml_type::Q4_1, "q4_1", 32, 20, true},
    {ggml_type::Q5_0, "q5_0", 32, 22, true},
    {ggml_type::Q5_1, "q5_1", 32, 24, true},
    {ggml_type::Q8_0, "q8_0", 32, 34, true},
    {ggml_type::Q8_1, "q8_1", 32, 36, false},
    {ggml_type::Q2_K, "q2_K", 256, 84, true},
    {ggml_type::Q3_K, "q3_K", 256, 110, true},
    {ggml_type::Q4_K, "q4_K", 256, 144, true},
    {ggml_type::Q5_K, "q5_K", 256, 176, true},
    {ggml_type::Q6_K, "q6_K", 256, 210, true},
    {ggml_type::Q8_K, "q8_K", 256, 292, false},
    {ggml_type::IQ2_XXS, "iq2_xxs", 256, 66, true},
    {ggml_type::IQ2_XS, "iq2_xs", 256, 74, true},
    {ggml_type::IQ3_XXS, "iq3_xxs", 256, 98, true},
    {ggml_type::IQ1_S, "iq1_s", 256, 50, true},
    {ggml_type::IQ4_NL, "iq4_nl", 32, 18, true},
    {ggml_type::IQ3_S, "iq3_s", 256, 110, true},
    {ggml_type::IQ2_S, "iq2_s", 256, 82, true},
    {ggml_type::IQ4_XS, "iq4_xs", 256, 136, true},
    {ggml_type::I8, "i8", 1, 1, false},
    {ggml_type::I16, "i16", 1, 2, false},
    {ggml_type::I32, "i32", 1, 4, false},
    {ggml_type::I64, "i64", 1, 8, false},
    {ggml_type::F64, "f64", 1, 8, false},
    {ggml_type::IQ1_M, "iq1_m", 256, 56, true},
    {ggml_type::BF16, "bf16", 1, 2, true},
    {ggml_type::TQ1_0, "tq1_0", 256, 54, true},
    {ggml_type::TQ2_0, "tq2_0", 256, 66, true},
    {ggml_type::MXFP4, "mxfp4", 32, 17, true},
}};

}  // namespace

std::optional<type_traits> find_type(uint32_t id) {
    for (const auto & t : k_types) {
        if (static_cast<uint32_t>(t.type) == id) {
            return t;
        }
    }
    return std::nullopt;
}

const type_traits & traits(ggml_type type) {
    for (const auto & t : k_types) {
        if (t.type == type) {
            return t;
        }
    }
    return k_types[0];  // unreachable for a valid enum value
}

std::optional<ggml_type> parse_type_name(std::string_view name) {
    std::string lower(name);
    for (char & c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (const auto & t : k_types) {
        std::string tn(t.name);
        for (char & c : tn) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (tn == lower) {
            return t.type;
        }
    }
    return std::nullopt;
}

}  // namespace sluice
