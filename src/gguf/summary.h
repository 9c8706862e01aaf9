// What a GGUF file holds, in the terms a user of an MoE engine asks about: architecture,
// hyper-parameters, bytes by type, and how much of the file is routed experts (the part
// sluice can stream) versus everything that must stay resident.
#pragma once

#include "gguf/gguf.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct type_bytes {
    uint64_t tensors = 0;
    uint64_t bytes   = 0;
};

// One file of a split model (or the whole file).
struct gguf_part_summary {
    std::string path;
    uint64_t    file_size = 0;
    uint64_t    n_tensors = 0;
};

struct gguf_summary {
    std::string                    path;           // the first part of a split model
    uint64_t                       file_size = 0;  // over all parts
    std::vector<gguf_part_summary> parts;          // one entry for a whole file
    uint32_t                       version   = 0;
    uint64_t                       alignment = 0;
    std::string                    architecture;  // "" if general.architecture is missing
    std::string                    name;          // general.name, if any
    uint64_t                       n_tensors  = 0;
    uint64_t                       n_metadata = 0;

    // Hyper-parameters found under "<arch>.", in file order, rendered as text
    // (e.g. {"block_count", "48"}, {"rope.freq_base", "1000000"}).
    std::vector<std::pair<std::string, std::string>> hparams;
    uint64_t                                         context_length = 0;  // 0 if absent

    std::string tokenizer_model;        // tokenizer.ggml.model ("llama", "gpt2", ...), "" if none
    std::string tokenizer_pre;          // tokenizer.ggml.pre
    uint64_t    vocab_size        = 0;  // entries of tokenizer.ggml.tokens
    bool        has_chat_template = false;

    std::map<std::string, type_bytes> by_type;  // keyed by type name
    uint64_t                          tensor_bytes = 0;
    // Tensors holding stacked routed experts, by the architecture's tensor table (the model
    // room knows it: the caller fills this in; see model/tensor_table.h's tensor_roles).
    uint64_t routed_expert_bytes = 0;
    uint64_t n_params            = 0;  // elements over all tensors
};

gguf_summary summarize(const gguf_file & file);

// Renders one metadata value for humans: scalars as text, strings quoted, arrays as
// "[type x count]" with their first few items.
std::string render_value(const gguf_value & v, size_t max_items = 4);

// Text from a file made safe for a terminal: C0 and C1 control characters and DEL become
// escapes (\n, \t, \x1b, \u009b), so metadata cannot move the cursor, recolour or retitle
// the terminal; other UTF-8 passes through, and a backslash is doubled.
std::string terminal_text(std::string_view s);

}  // namespace sluice
