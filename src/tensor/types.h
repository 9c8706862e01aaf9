// Element types of GGUF tensors: llama.cpp's ggml_type ids, block sizes and bytes per block.
// Every id a GGUF file may carry is known here (so `info` can describe any file); the subset
// sluice can compute with is marked `computable`.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice {

enum class ggml_type : uint32_t {
    F32     = 0,
    F16     = 1,
    Q4_0    = 2,
    Q4_1    = 3,
    Q5_0    = 6,
    Q5_1    = 7,
    Q8_0    = 8,
    Q8_1    = 9,
    Q2_K    = 10,
    Q3_K    = 11,
    Q4_K    = 12,
    Q5_K    = 13,
    Q6_K    = 14,
    Q8_K    = 15,
    IQ2_XXS = 16,
    IQ2_XS  = 17,
    IQ3_XXS = 18,
    IQ1_S   = 19,
    IQ4_NL  = 20,
    IQ3_S   = 21,
    IQ2_S   = 22,
    IQ4_XS  = 23,
    I8      = 24,
    I16     = 25,
    I32     = 26,
    I64     = 27,
    F64     = 28,
    IQ1_M   = 29,
    BF16    = 30,
    TQ1_0   = 34,
    TQ2_0   = 35,
    MXFP4   = 39,
};

struct type_traits {
    ggml_type        type;
    std::string_view name;        // as llama.cpp prints it: "q4_K", "f16", ...
    int64_t          block_size;  // elements per block
    int64_t          type_size;   // bytes per block
    bool             computable;  // sluice can dequantize it and multiply with it
};

// Traits of a type id read from a file; nullopt for ids no ggml version defines.
std::optional<type_traits> find_type(uint32_t id);

// Traits of a known type (never fails).
const type_traits & traits(ggml_type t);

inline std::string_view type_name(ggml_type t) {
    return traits(t).name;
}

// Parses a name as written on the command line ("q4_k", "Q8_0", "f16"); nullopt if unknown.
std::optional<ggml_type> parse_type_name(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
inline uint64_t row_bytes(ggml_type t, int64_t n) {
    const type_traits & tr = traits(t);
    return static_cast<uint64_t>(n / tr.block_size) * static_cast<uint64_t>(tr.type_size);
}

// The type rows of n elements are stored in when `t` is asked for: `t` where its blocks
// divide the row, else Q8_0, else F16 (the fallback llama.cpp's quantizer takes).
inline ggml_type storable_type(ggml_type t, int64_t n) {
    if (n % traits(t).block_size == 0) {
        return t;
    }
    return n % traits(ggml_type::Q8_0).block_size == 0 ? ggml_type::Q8_0 : ggml_type::F16;
}

}  // namespace sluice
