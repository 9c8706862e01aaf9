#include "model/weights.h"

#include "tensor/quantize.h"
#include "util/error.h"

#include <fmt/format.h>

namespace sluice {
namespace {

std::string shape_of(const gguf_tensor & t) {
    std::string s;
    for (int i = 0; i < t.n_dims; ++i) {
        s += (i ? ", " : "") + std::to_string(t.ne[i]);
    }
    return "[" + s + "]";
}

void check_computable(const gguf_file & f, const gguf_tensor & t) {
    if (!traits(t.type).computable) {
        fail("{}: tensor '{}' has type {}, which sluice cannot compute with (offset {})", f.path(), t.name,
             type_name(t.type), t.info_offset);
    }
}

weight_matrix matrix_from(const gguf_file & f, const gguf_tensor & t, int64_t cols, int64_t rows) {
    if (t.n_dims != 2 || t.ne[0] != cols || t.ne[1] != rows) {
        fail("{}: tensor '{}' has shape {}, expected [{}, {}] (offset {})", f.path(), t.name, shape_of(t), cols, rows,
             t.info_offset);
    }
    check_computable(f, t);
    return weight_matrix{t.type, rows, cols, t.row_bytes(), t.data};
}

}  // namespace

weight_matrix require_matrix(const gguf_file & f, const std::string & name, int64_t cols, int64_t rows) {
    return matrix_from(f, f.require_tensor(name), cols, rows);
}

weight_matrix optional_matrix(const gguf_file & f, const std::string & name, int64_t cols, int64_t rows) {
    const gguf_tensor * t = f.find_tensor(name);
    if (t == nullptr) {
        return weight_matrix{ggml_type::F32, 0, 0, 0, nullptr};
    }
    return matrix_from(f, *t, cols, rows);
}

std::vector<float> require_vector(const gguf_file & f, const std::string & name, int64_t n) {
    const gguf_tensor & t = f.require_tensor(name);
    if (t.n_dims != 1 || t.ne[0] != n) {
        fail("{}: tensor '{}' has shape {}, expected [{}] (offset {})", f.path(), t.name, shape_of(t), n,
             t.info_offset);
    }
    check_computable(f, t);
    std::vector<float> v(n);
    dequantize_row(t.type, t.data, v.data(), n);
    return v;
}

const float * require_f32_view(const gguf_file & f, const std::string & name, int64_t ne0, int64_t ne1) {
    const gguf_tensor & t = f.require_tensor(name);
    const bool          shape_ok =
        ne1 == 0 ? (t.n_dims == 1 && t.ne[0] == ne0) : (t.n_dims == 2 && t.ne[0] == ne0 && t.ne[1] == ne1);
    if (!shape_ok) {
        fail("{}: tensor '{}' has shape {}, expected [{}{}] (offset {})", f.path(), t.name, shape_of(t), ne0,
             ne1 == 0 ? std::string() : fmt::format(", {}", ne1), t.info_offset);
    }
    if (t.type != ggml_type::F32) {
        fail("{}: tensor '{}' has type {}, expected F32 (offset {})", f.path(), t.name, type_name(t.type),
             t.info_offset);
    }
    return reinterpret_cast<const float *>(t.data);  // the data section is aligned to >= 32 bytes
}

std::string block_tensors::name(std::string_view t, std::string_view suffix) const {
    return fmt::format("blk.{}.{}.{}", layer_, t, suffix);
}

expert_layer_tensors block_tensors::experts() const {
    return {&f_.require_tensor(name("ffn_gate_exps")), &f_.require_tensor(name("ffn_up_exps")),
            &f_.require_tensor(name("ffn_down_exps"))};
}

}  // namespace sluice
