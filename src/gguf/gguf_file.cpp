// Lookups and typed accessors of a parsed gguf_file, and the decoding of array elements.
// Values come from untrusted files, so a type mismatch is an error naming key, type and file.
#include "gguf/gguf.h"
#include "util/error.h"

#include <cstring>
#include <limits>

namespace sluice {

std::string_view gguf_value_type_name(gguf_value_type t) {
    switch (t) {
        case gguf_value_type::UINT8:
            return "u8";
        case gguf_value_type::INT8:
            return "i8";
        case gguf_value_type::UINT16:
            return "u16";
        case gguf_value_type::INT16:
            return "i16";
        case gguf_value_type::UINT32:
            return "u32";
        case gguf_value_type::INT32:
            return "i32";
        case gguf_value_type::FLOAT32:
            return "f32";
        case gguf_value_type::BOOL:
            return "bool";
        case gguf_value_type::STRING:
            return "string";
        case gguf_value_type::ARRAY:
            return "array";
        case gguf_value_type::UINT64:
            return "u64";
        case gguf_value_type::INT64:
            return "i64";
        case gguf_value_type::FLOAT64:
            return "f64";
    }
    return "unknown";
}

uint64_t gguf_scalar_size(gguf_value_type t) {
    switch (t) {
        case gguf_value_type::UINT8:
        case gguf_value_type::INT8:
        case gguf_value_type::BOOL:
            return 1;
        case gguf_value_type::UINT16:
        case gguf_value_type::INT16:
            return 2;
        case gguf_value_type::UINT32:
        case gguf_value_type::INT32:
        case gguf_value_type::FLOAT32:
            return 4;
        case gguf_value_type::UINT64:
        case gguf_value_type::INT64:
        case gguf_value_type::FLOAT64:
            return 8;
        case gguf_value_type::STRING:
        case gguf_value_type::ARRAY:
            return 0;
    }
    return 0;
}

bool gguf_value::is_integer() const {
    switch (type) {
        case gguf_value_type::UINT8:
        case gguf_value_type::INT8:
        case gguf_value_type::UINT16:
        case gguf_value_type::INT16:
        case gguf_value_type::UINT32:
        case gguf_value_type::INT32:
        case gguf_value_type::UINT64:
        case gguf_value_type::INT64:
            return true;
        default:
            return false;
    }
}

namespace {

bool is_signed(gguf_value_type t) {
    return t == gguf_value_type::INT8 || t == gguf_value_type::INT16 || t == gguf_value_type::INT32 ||
           t == gguf_value_type::INT64;
}

// Reads element k of a packed little-endian array as T (memcpy: the data is unaligned).
template <typename T>
T element(const gguf_value & v, uint64_t k) {
    T x;
    std::memcpy(&x, v.raw + k * sizeof(T), sizeof(T));
    return x;
}

void check_numeric_element(const gguf_value & v, uint64_t k) {
    if (v.type != gguf_value_type::ARRAY || gguf_scalar_size(v.elem_type) == 0) {
        fail("gguf: numeric element requested from a {} of {}", gguf_value_type_name(v.type),
             gguf_value_type_name(v.elem_type));
    }
    if (k >= v.count) {
        fail("gguf: array element {} requested from an array of {}", k, v.count);
    }
}

}  // namespace

double gguf_value::array_f64(uint64_t k) const {
    check_numeric_element(*this, k);
    switch (elem_type) {
        case gguf_value_type::FLOAT32:
            return element<float>(*this, k);
        case gguf_value_type::FLOAT64:
            return element<double>(*this, k);
        case gguf_value_type::UINT64:
            return static_cast<double>(element<uint64_t>(*this, k));
        default:
            return static_cast<double>(array_i64(k));
    }
}

int64_t gguf_value::array_i64(uint64_t k) const {
    check_numeric_element(*this, k);
    switch (elem_type) {
        case gguf_value_type::UINT8:
            return element<uint8_t>(*this, k);
        case gguf_value_type::INT8:
            return element<int8_t>(*this, k);
        case gguf_value_type::UINT16:
            return element<uint16_t>(*this, k);
        case gguf_value_type::INT16:
            return element<int16_t>(*this, k);
        case gguf_value_type::UINT32:
            return element<uint32_t>(*this, k);
        case gguf_value_type::INT32:
            return element<int32_t>(*this, k);
        case gguf_value_type::INT64:
            return element<int64_t>(*this, k);
        case gguf_value_type::BOOL:
            return element<uint8_t>(*this, k) != 0;
        case gguf_value_type::UINT64: {
            const uint64_t x = element<uint64_t>(*this, k);
            if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                fail("gguf: array element {} = {} does not fit i64", k, x);
            }
            return static_cast<int64_t>(x);
        }
        case gguf_value_type::FLOAT32:
        case gguf_value_type::FLOAT64: {
            const double x =
                elem_type == gguf_value_type::FLOAT32 ? element<float>(*this, k) : element<double>(*this, k);
            // -2^63 and 2^63 bound the doubles that convert without undefined behaviour.
            if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) {
                fail("gguf: array element {} = {} does not fit i64", k, x);
            }
            return static_cast<int64_t>(x);
        }
        default:
            return 0;  // not reached: check_numeric_element rejects strings and arrays
    }
}

const gguf_value * gguf_file::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const gguf_tensor * gguf_file::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

[[noreturn]] void fail_type(const std::string & file, std::string_view key, const gguf_value & v,
                            std::string_view want) {
    fail("{}: metadata '{}' has type {}, expected {}", file, key, gguf_value_type_name(v.type), want);
}

}  // namespace

std::optional<std::string_view> gguf_file::get_string(std::string_view key) const {
    const gguf_value * v = find(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->type != gguf_value_type::STRING) {
        fail_type(name_, key, *v, "string");
    }
    return v->str;
}

std::optional<uint64_t> gguf_file::get_u64(std::string_view key) const {
    const gguf_value * v = find(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_integer()) {
        fail_type(name_, key, *v, "an integer");
    }
    if (is_signed(v->type) && v->i < 0) {
        fail("{}: metadata '{}' = {} is negative, expected an unsigned value", name_, key, v->i);
    }
    return v->u;
}

std::optional<uint32_t> gguf_file::get_u32(std::string_view key) const {
    const auto u = get_u64(key);
    if (!u) {
        return std::nullopt;
    }
    if (*u > std::numeric_limits<uint32_t>::max()) {
        fail("{}: metadata '{}' = {} does not fit u32", name_, key, *u);
    }
    return static_cast<uint32_t>(*u);
}

std::optional<int64_t> gguf_file::get_i64(std::string_view key) const {
    const gguf_value * v = find(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_integer()) {
        fail_type(name_, key, *v, "an integer");
    }
    if (!is_signed(v->type) && v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail("{}: metadata '{}' = {} does not fit i64", name_, key, v->u);
    }
    return v->i;
}

std::optional<double> gguf_file::get_f64(std::string_view key) const {
    const gguf_value * v = find(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_float() && !v->is_integer()) {
        fail_type(name_, key, *v, "a number");
    }
    return v->f;
}

std::optional<bool> gguf_file::get_bool(std::string_view key) const {
    const gguf_value * v = find(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->type != gguf_value_type::BOOL) {
        fail_type(name_, key, *v, "bool");
    }
    return v->u != 0;
}

const gguf_value * gguf_file::get_array(std::string_view key) const {
    const gguf_value * v = find(key);
    if (v != nullptr && v->type != gguf_value_type::ARRAY) {
        fail_type(name_, key, *v, "array");
    }
    return v;
}

std::string_view gguf_file::require_string(std::string_view key) const {
    const auto s = get_string(key);
    if (!s) {
        fail("{}: required metadata '{}' is missing", name_, key);
    }
    return *s;
}

uint32_t gguf_file::require_u32(std::string_view key) const {
    const auto u = get_u32(key);
    if (!u) {
        fail("{}: required metadata '{}' is missing", name_, key);
    }
    return *u;
}

const gguf_tensor & gguf_file::require_tensor(std::string_view name) const {
    const gguf_tensor * t = find_tensor(name);
    if (t == nullptr) {
        fail("{}: required tensor '{}' is missing", name_, name);
    }
    return *t;
}

std::string_view gguf_file::architecture() const {
    return get_string("general.architecture").value_or(std::string_view{});
}

}  // namespace sluice
