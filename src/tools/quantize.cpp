#include "tools/quantize.h"

#include "gguf/gguf.h"
#include "model/tensor_table.h"
#include "tensor/quantize.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"

#include <optional>
#include <vector>

namespace sluice {

uint32_t llama_file_type(ggml_type t) {
    switch (t) {
        case ggml_type::F32:
            return 0;
        case ggml_type::F16:
            return 1;
        case ggml_type::Q4_0:
            return 2;
        case ggml_type::Q8_0:
            return 7;
        case ggml_type::Q2_K:
            return 10;
        case ggml_type::Q3_K:
            return 11;  // Q3_K_S: every matrix Q3_K
        case ggml_type::Q4_K:
            return 15;  // Q4_K_M
        case ggml_type::Q5_K:
            return 16;  // Q5_K_S
        case ggml_type::Q6_K:
            return 18;
        case ggml_type::BF16:
            return 32;
        case ggml_type::IQ4_NL:
            return 25;
        case ggml_type::IQ4_XS:
            return 30;
        case ggml_type::TQ1_0:
            return 36;
        case ggml_type::TQ2_0:
            return 37;
        default:
            return 0;
    }
}

bool should_quantize(const std::string & name, int n_dims, int64_t row_len, ggml_type type) {
    if (n_dims < 2 || name.find("ffn_gate_inp") != std::string::npos) {
        return false;
    }
    return row_len % traits(type).block_size == 0;
}

quantize_report quantize_file(const std::string & input, const std::string & output, ggml_type type, thread_pool & pool,
                              quantize_scope scope, uint64_t split_max_bytes) {
    if (!can_quantize(type)) {
        fail("quantize: cannot write type {} (supported: {})", type_name(type), quantizable_type_names());
    }
    const gguf_file in = gguf_file::open(input);
    gguf_writer     out;
    for (const gguf_kv & kv : in.metadata()) {
        if (kv.key == "general.file_type" || kv.key == "general.quantization_version" ||
            kv.key == "general.alignment" || is_split_key(kv.key)) {
            continue;
        }
        out.set_value(std::string(kv.key), kv.value);
    }
    out.set_u32("general.file_type", llama_file_type(type));
    out.set_u32("general.quantization_version", k_ggml_quantization_version);
    if (in.alignment() != 32) {
        out.set_alignment(static_cast<uint32_t>(in.alignment()));
    }

    // Every tensor's type is decided first (the head holds all sizes); the converted bytes
    // are then produced one tensor at a time as the file is written, so memory holds one
    // tensor, not the whole output.
    quantize_report       rep;
    std::vector<size_t>   source;         // [output tensor] -> its input tensor
    std::vector<uint64_t> written_after;  // [output tensor] -> output bytes up to it
    uint64_t              total_out = 0;
    // The routed experts by the architecture's tensor table, as the streaming cache finds them;
    // converting every matrix needs no architecture, so ALL does not ask for it.
    const std::vector<std::optional<tensor_role>> roles =
        scope == quantize_scope::ALL ? std::vector<std::optional<tensor_role>>(in.tensors().size()) : tensor_roles(in);
    for (size_t i = 0; i < in.tensors().size(); ++i) {
        const gguf_tensor & t      = in.tensors()[i];
        const bool          expert = roles[i] == tensor_role::EXPERTS;
        if (scope == quantize_scope::SHADOW && !expert) {
            continue;  // not written
        }
        rep.bytes_in += t.nbytes;
        if (scope == quantize_scope::SHADOW && !(traits(t.type).computable && t.n_dims == 3 &&
                                                 should_quantize(std::string(t.name), t.n_dims, t.ne[0], type))) {
            fail("{}: tensor '{}' ({} values a row) cannot be written as {} for an expert shadow", input, t.name,
                 t.ne[0], type_name(type));
        }
        const bool convert = traits(t.type).computable && t.type != type &&
                             should_quantize(std::string(t.name), t.n_dims, t.ne[0], type) &&
                             (scope == quantize_scope::ALL || expert);
        if (convert) {
            out.add_tensor_info(std::string(t.name), type, {t.ne, t.ne + t.n_dims});
            total_out += static_cast<uint64_t>(t.n_rows()) * row_bytes(type, t.ne[0]);
            ++rep.tensors_converted;
        } else {
            out.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
            total_out += t.nbytes;
            ++rep.tensors_kept;
        }
        source.push_back(i);
        written_after.push_back(total_out);
    }
    if (scope == quantize_scope::SHADOW && rep.tensors_converted + rep.tensors_kept == 0) {
        fail("{}: the model has no routed experts (*_exps tensors) to shadow", input);
    }
    rep.bytes_out = total_out;

    std::vector<uint8_t> converted;
    progress_bar         bar("quantize", total_out);
    const auto           produce = [&](size_t i) -> std::span<const uint8_t> {
        const gguf_tensor & t    = in.tensors()[source[i]];
        const int64_t       rows = t.n_rows(), cols = t.ne[0];
        const uint64_t      rb_in = t.row_bytes(), rb_out = row_bytes(type, cols);
        converted.resize(static_cast<uint64_t>(rows) * rb_out);
        std::vector<std::vector<float>> scratch(pool.size(), std::vector<float>(cols));
        const int64_t                   chunk = 64;
        pool.parallel_for((rows + chunk - 1) / chunk, [&](int64_t task, int thread) {
            for (int64_t r = task * chunk; r < std::min(rows, (task + 1) * chunk); ++r) {
                dequantize_row(t.type, t.data + r * rb_in, scratch[thread].data(), cols);
                quantize_row(type, scratch[thread].data(), converted.data() + r * rb_out, cols);
            }
        });
        bar.update(written_after[i]);  // kept tensors before this one are counted here too
        return converted;
    };
    rep.files = out.write_maybe_split(output, split_max_bytes, produce);
    return rep;
}

}  // namespace sluice
