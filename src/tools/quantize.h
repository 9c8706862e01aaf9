// Re-quantizing a GGUF file: every weight matrix to one type, the way llama-quantize does
// (1-D tensors and the MoE routers stay F32, because they are small and routing is
// sensitive to them). Used to ship the bundled model as Q8_0 and to make test models.
#pragma once

#include "tensor/types.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

class thread_pool;

struct quantize_report {
    int                      tensors_converted = 0;
    int                      tensors_kept      = 0;
    uint64_t                 bytes_in          = 0;
    uint64_t                 bytes_out         = 0;
    std::vector<std::string> files;  // written: the output, or its parts
};

// Which tensors quantize_file converts, and which it writes.
enum class quantize_scope {
    ALL,      // every weight matrix converted, the rest kept
    EXPERTS,  // only the routed experts' matrices (*_exps) converted, the rest kept (what a
              // re-quantizing expert cache holds)
    SHADOW,   // only the routed experts' matrices, converted, and nothing else: an expert
              // shadow for streaming (--shadow), which finds them by name
};

// Reads `input`, writes `output` with the matrices `scope` names in `type` (one of the types
// quantize_row supports). With split_max_bytes > 0 the output is a split model
// (gguf_writer::write_split: OUTPUT less ".gguf", then -00001-of-0000N.gguf). Throws naming
// the tensor on a problem.
quantize_report quantize_file(const std::string & input, const std::string & output, ggml_type type, thread_pool & pool,
                              quantize_scope scope = quantize_scope::ALL, uint64_t split_max_bytes = 0);

// llama.cpp's general.file_type id (LLAMA_FTYPE_*) for a file mostly of type t; 0 (all F32)
// for a type without one.
uint32_t llama_file_type(ggml_type t);

// The block-format version quantized files declare (general.quantization_version), as
// llama.cpp's quantizer writes it (GGML_QNT_VERSION).
constexpr uint32_t k_ggml_quantization_version = 2;

// Whether quantize_file converts a tensor of this name and shape (n_dims >= 2, not a router,
// rows a multiple of the block size).
bool should_quantize(const std::string & name, int n_dims, int64_t row_len, ggml_type type);

}  // namespace sluice
