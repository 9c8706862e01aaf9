#include "model/weights.h"

#include "tensor/quantize.h"
#include "util/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

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
        fail("{}: tensor '{}' has type {}, which sluice cannot compute with (offset {})", f.path_of(t), t.name,
             type_name(t.type), t.info_offset);
    }
}

weight_matrix matrix_from(const gguf_file & f, const gguf_tensor & t, int64_t cols, int64_t rows) {
    if (t.n_dims != 2 || t.ne[0] != cols || t.ne[1] != rows) {
        fail("{}: tensor '{}' has shape {}, expected [{}, {}] (offset {})", f.path_of(t), t.name, shape_of(t), cols,
             rows, t.info_offset);
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
        fail("{}: tensor '{}' has shape {}, expected [{}] (offset {})", f.path_of(t), t.name, shape_of(t), n,
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
        fail("{}: tensor '{}' has shape {}, expected [{}{}] (offset {})", f.path_of(t), t.name, shape_of(t), ne0,
             ne1 == 0 ? std::string() : fmt::format(", {}", ne1), t.info_offset);
    }
    if (t.type != ggml_type::F32) {
        fail("{}: tensor '{}' has type {}, expected F32 (offset {})", f.path_of(t), t.name, type_name(t.type),
             t.info_offset);
    }
    return reinterpret_cast<const float *>(t.data);  // the data section is aligned to >= 32 bytes
}

std::string block_tensors::name(std::string_view t, std::string_view suffix) const {
    return spec(t, suffix).file_name(layer_);
}

const tensor_spec & block_tensors::spec(std::string_view t, std::string_view suffix) const {
    for (const tensor_spec & s : table_) {
        if (s.name == t && s.suffix == suffix && s.where != block_set::GLOBAL) {
            if (!block_has(s, dims_.hp, layer_)) {
                fail("{}: block {} has no tensor '{}' in the {} table", f_.path(), layer_, t, f_.architecture());
            }
            return s;
        }
    }
    fail("{}: the {} tensor table has no '{}.{}'", f_.path(), f_.architecture(), t, suffix);
}

weight_matrix block_tensors::matrix(std::string_view t, std::string_view suffix) const {
    const std::vector<int64_t> shape = dims_.shape(spec(t, suffix));
    return require_matrix(f_, name(t, suffix), shape.at(0), shape.at(1));
}

std::vector<float> block_tensors::vector(std::string_view t, std::string_view suffix) const {
    return require_vector(f_, name(t, suffix), dims_.shape(spec(t, suffix)).at(0));
}

const float * block_tensors::f32_view(std::string_view t, std::string_view suffix) const {
    const std::vector<int64_t> shape = dims_.shape(spec(t, suffix));
    return require_f32_view(f_, name(t, suffix), shape.at(0), shape.size() > 1 ? shape[1] : 0);
}

const gguf_tensor & block_tensors::tensor(std::string_view t, std::string_view suffix) const {
    const std::vector<int64_t> shape = dims_.shape(spec(t, suffix));
    const gguf_tensor &        g     = f_.require_tensor(name(t, suffix));
    bool                       ok    = g.n_dims == static_cast<int>(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i) {
        ok = g.ne[i] == shape[i];
    }
    if (!ok) {
        fail("{}: tensor '{}' has shape {}, expected [{}] (offset {})", f_.path_of(g), g.name, shape_of(g),
             fmt::join(shape, ", "), g.info_offset);
    }
    check_computable(f_, g);
    return g;
}

bool block_tensors::has(std::string_view t, std::string_view suffix) const {
    const tensor_spec & s = spec(t, suffix);
    if (!s.optional) {  // a builder bug: the table says every file has it
        fail("{}: the {} tensor table marks '{}' required; asking whether it is present is a mistake", f_.path(),
             f_.architecture(), s.file_name(layer_));
    }
    return f_.find_tensor(s.file_name(layer_)) != nullptr;
}

expert_layer_tensors block_tensors::experts() const {
    std::vector<const gguf_tensor *> found;
    for (const tensor_spec & s : table_) {
        if (s.role == tensor_role::EXPERTS && block_has(s, dims_.hp, layer_)) {
            found.push_back(&f_.require_tensor(s.file_name(layer_)));
        }
    }
    if (found.size() != 3) {
        fail("{}: the {} tensor table names {} expert tensors for block {}, not gate, up and down", f_.path(),
             f_.architecture(), found.size(), layer_);
    }
    return {found[0], found[1], found[2]};
}

}  // namespace sluice
