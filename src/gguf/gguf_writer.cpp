// The GGUF v3 writer: metadata and tensor infos are encoded as they are added (so a bad input
// fails at the call that supplied it), tensor bytes are only referenced and streamed at write.
#include "gguf/gguf.h"
#include "util/error.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace sluice {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

// resize + memcpy rather than insert(): GCC 12 misreads small inserts as overflows.
void append_bytes(std::vector<uint8_t> & out, const void * p, uint64_t n) {
    if (n == 0) {
        return;
    }
    const size_t at = out.size();
    out.resize(at + n);
    std::memcpy(out.data() + at, p, n);
}

template <typename T>
void append(std::vector<uint8_t> & out, T v) {
    append_bytes(out, &v, sizeof(T));
}

void append_string(std::vector<uint8_t> & out, std::string_view s) {
    append<uint64_t>(out, s.size());
    append_bytes(out, s.data(), s.size());
}

void append_type(std::vector<uint8_t> & out, gguf_value_type t) {
    append<uint32_t>(out, static_cast<uint32_t>(t));
}

bool valid_value_type(gguf_value_type t) {
    return static_cast<uint32_t>(t) <= static_cast<uint32_t>(gguf_value_type::FLOAT64);
}

uint64_t packed_bytes(std::string_view key, gguf_value_type elem_type, uint64_t count) {
    const uint64_t size = gguf_scalar_size(elem_type);
    uint64_t       n    = 0;
    if (!valid_value_type(elem_type) || size == 0) {
        fail("gguf_writer: metadata '{}': packed arrays need a scalar element type, not {}", key,
             static_cast<uint32_t>(elem_type));
    }
    if (__builtin_mul_overflow(count, size, &n)) {
        fail("gguf_writer: metadata '{}': {} elements overflow 64 bits", key, count);
    }
    return n;
}

// Element type, count and elements of an array value (without its own type id).
void encode_array(std::vector<uint8_t> & out, std::string_view key, const gguf_value & v, int depth) {
    if (depth >= 8) {
        fail("gguf_writer: metadata '{}': arrays nested more than 8 deep", key);
    }
    append_type(out, v.elem_type);
    append<uint64_t>(out, v.count);
    if (v.elem_type == gguf_value_type::STRING) {
        if (v.strings.size() != v.count) {
            fail("gguf_writer: metadata '{}': count {} but {} strings", key, v.count, v.strings.size());
        }
        for (std::string_view s : v.strings) {
            append_string(out, s);
        }
    } else if (v.elem_type == gguf_value_type::ARRAY) {
        if (v.items.size() != v.count) {
            fail("gguf_writer: metadata '{}': count {} but {} nested arrays", key, v.count, v.items.size());
        }
        for (const gguf_value & item : v.items) {
            encode_array(out, key, item, depth + 1);
        }
    } else {
        const uint64_t n = packed_bytes(key, v.elem_type, v.count);
        if (n > 0 && v.raw == nullptr) {
            fail("gguf_writer: metadata '{}': array of {} elements without data", key, v.count);
        }
        append_bytes(out, v.raw, n);
    }
}

// Type id + value, in file form.
std::vector<uint8_t> encode_value(std::string_view key, const gguf_value & v) {
    std::vector<uint8_t> out;
    if (!valid_value_type(v.type)) {
        fail("gguf_writer: metadata '{}': unknown value type {}", key, static_cast<uint32_t>(v.type));
    }
    append_type(out, v.type);
    switch (v.type) {
        case gguf_value_type::UINT8:
            append(out, static_cast<uint8_t>(v.u));
            break;
        case gguf_value_type::INT8:
            append(out, static_cast<int8_t>(v.i));
            break;
        case gguf_value_type::UINT16:
            append(out, static_cast<uint16_t>(v.u));
            break;
        case gguf_value_type::INT16:
            append(out, static_cast<int16_t>(v.i));
            break;
        case gguf_value_type::UINT32:
            append(out, static_cast<uint32_t>(v.u));
            break;
        case gguf_value_type::INT32:
            append(out, static_cast<int32_t>(v.i));
            break;
        case gguf_value_type::UINT64:
            append(out, v.u);
            break;
        case gguf_value_type::INT64:
            append(out, v.i);
            break;
        case gguf_value_type::FLOAT32:
            append(out, static_cast<float>(v.f));
            break;
        case gguf_value_type::FLOAT64:
            append(out, v.f);
            break;
        case gguf_value_type::BOOL:
            append(out, static_cast<uint8_t>(v.u != 0 ? 1 : 0));
            break;
        case gguf_value_type::STRING:
            append_string(out, v.str);
            break;
        case gguf_value_type::ARRAY:
            encode_array(out, key, v, 0);
            break;
    }
    return out;
}

template <typename T>
std::vector<uint8_t> encode_scalar(gguf_value_type t, T v) {
    std::vector<uint8_t> out;
    append_type(out, t);
    append(out, v);
    return out;
}

// general.alignment as a writer sees it: an unsigned integer of any width, a power of two.
uint32_t decode_alignment(const std::vector<uint8_t> & encoded) {
    uint32_t type = 0;
    std::memcpy(&type, encoded.data(), 4);
    const auto t    = static_cast<gguf_value_type>(type);
    const auto size = gguf_scalar_size(t);
    if (!(t == gguf_value_type::UINT8 || t == gguf_value_type::UINT16 || t == gguf_value_type::UINT32 ||
          t == gguf_value_type::UINT64)) {
        fail("gguf_writer: general.alignment must be an unsigned integer, not {}", gguf_value_type_name(t));
    }
    uint64_t v = 0;
    std::memcpy(&v, encoded.data() + 4, size);
    if (v == 0 || v > std::numeric_limits<uint32_t>::max() || (v & (v - 1)) != 0) {
        fail("gguf_writer: general.alignment {} is not a power of two that fits 32 bits", v);
    }
    return static_cast<uint32_t>(v);
}

uint64_t padding(uint64_t n, uint64_t alignment) {
    return (alignment - n % alignment) % alignment;
}

}  // namespace

gguf_writer & gguf_writer::put(std::string key, std::vector<uint8_t> encoded) {
    if (key.empty()) {
        fail("gguf_writer: empty metadata key");
    }
    for (const kv & e : kvs_) {
        if (e.key == key) {
            fail("gguf_writer: duplicate metadata key '{}'", key);
        }
    }
    if (key == "general.alignment") {
        alignment_ = decode_alignment(encoded);
    }
    kvs_.push_back(kv{std::move(key), std::move(encoded)});
    return *this;
}

gguf_writer & gguf_writer::set_u8(std::string key, uint8_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::UINT8, v));
}
gguf_writer & gguf_writer::set_i8(std::string key, int8_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::INT8, v));
}
gguf_writer & gguf_writer::set_u16(std::string key, uint16_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::UINT16, v));
}
gguf_writer & gguf_writer::set_i16(std::string key, int16_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::INT16, v));
}
gguf_writer & gguf_writer::set_u32(std::string key, uint32_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::UINT32, v));
}
gguf_writer & gguf_writer::set_i32(std::string key, int32_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::INT32, v));
}
gguf_writer & gguf_writer::set_u64(std::string key, uint64_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::UINT64, v));
}
gguf_writer & gguf_writer::set_i64(std::string key, int64_t v) {
    return put(std::move(key), encode_scalar(gguf_value_type::INT64, v));
}
gguf_writer & gguf_writer::set_f32(std::string key, float v) {
    return put(std::move(key), encode_scalar(gguf_value_type::FLOAT32, v));
}
gguf_writer & gguf_writer::set_f64(std::string key, double v) {
    return put(std::move(key), encode_scalar(gguf_value_type::FLOAT64, v));
}

gguf_writer & gguf_writer::set_bool(std::string key, bool v) {
    return put(std::move(key), encode_scalar(gguf_value_type::BOOL, static_cast<uint8_t>(v ? 1 : 0)));
}

gguf_writer & gguf_writer::set_string(std::string key, std::string_view v) {
    std::vector<uint8_t> out;
    append_type(out, gguf_value_type::STRING);
    append_string(out, v);
    return put(std::move(key), std::move(out));
}

gguf_writer & gguf_writer::set_array_strings(std::string key, const std::vector<std::string> & v) {
    std::vector<uint8_t> out;
    append_type(out, gguf_value_type::ARRAY);
    append_type(out, gguf_value_type::STRING);
    append<uint64_t>(out, v.size());
    for (const std::string & s : v) {
        append_string(out, s);
    }
    return put(std::move(key), std::move(out));
}

gguf_writer & gguf_writer::set_array_raw(std::string key, gguf_value_type elem_type, const void * data,
                                         uint64_t count) {
    const uint64_t n = packed_bytes(key, elem_type, count);
    if (n > 0 && data == nullptr) {
        fail("gguf_writer: metadata '{}': array of {} elements without data", key, count);
    }
    std::vector<uint8_t> out;
    append_type(out, gguf_value_type::ARRAY);
    append_type(out, elem_type);
    append<uint64_t>(out, count);
    append_bytes(out, data, n);
    return put(std::move(key), std::move(out));
}

gguf_writer & gguf_writer::set_array_f32(std::string key, const std::vector<float> & v) {
    return set_array_raw(std::move(key), gguf_value_type::FLOAT32, v.data(), v.size());
}

gguf_writer & gguf_writer::set_array_i32(std::string key, const std::vector<int32_t> & v) {
    return set_array_raw(std::move(key), gguf_value_type::INT32, v.data(), v.size());
}

gguf_writer & gguf_writer::set_value(std::string key, const gguf_value & v) {
    std::vector<uint8_t> encoded = encode_value(key, v);
    return put(std::move(key), std::move(encoded));
}

gguf_writer & gguf_writer::set_alignment(uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        fail("gguf_writer: alignment {} is not a nonzero power of two", alignment);
    }
    alignment_ = alignment;
    // Keep the metadata and the layout in agreement: rewrite an existing key in place.
    for (kv & e : kvs_) {
        if (e.key == "general.alignment") {
            e.encoded = encode_scalar(gguf_value_type::UINT32, alignment);
            return *this;
        }
    }
    if (alignment != 32) {
        kvs_.push_back(kv{"general.alignment", encode_scalar(gguf_value_type::UINT32, alignment)});
    }
    return *this;
}

gguf_writer & gguf_writer::add(std::string name, ggml_type type, std::vector<int64_t> dims, const void * data,
                               uint64_t nbytes, bool streamed) {
    if (name.empty()) {
        fail("gguf_writer: empty tensor name");
    }
    for (const tensor & t : tensors_) {
        if (t.name == name) {
            fail("gguf_writer: duplicate tensor name '{}'", name);
        }
    }
    const auto tr = find_type(static_cast<uint32_t>(type));
    if (!tr) {
        fail("gguf_writer: tensor '{}': unknown ggml type id {}", name, static_cast<uint32_t>(type));
    }
    if (dims.empty() || dims.size() > 4) {
        fail("gguf_writer: tensor '{}': {} dimensions (must be 1 to 4)", name, dims.size());
    }
    // The same checks as the reader, so whatever is written can be read back.
    int64_t n_el = 1;
    int64_t rows = 1;
    for (size_t d = 0; d < dims.size(); ++d) {
        if (dims[d] < 0) {
            fail("gguf_writer: tensor '{}': negative dimension {} at index {}", name, dims[d], d);
        }
        if (__builtin_mul_overflow(n_el, dims[d], &n_el) || (d > 0 && __builtin_mul_overflow(rows, dims[d], &rows))) {
            fail("gguf_writer: tensor '{}': element count overflows 64 bits", name);
        }
    }
    if (dims[0] % tr->block_size != 0) {
        fail("gguf_writer: tensor '{}': dim 0 = {} is not a multiple of the block size {} of {}", name, dims[0],
             tr->block_size, tr->name);
    }
    uint64_t expected = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n_el / tr->block_size), static_cast<uint64_t>(tr->type_size),
                               &expected)) {
        fail("gguf_writer: tensor '{}': byte size overflows 64 bits", name);
    }
    if (nbytes != expected) {
        fail("gguf_writer: tensor '{}': {} bytes given, its {} shape needs {}", name, nbytes, tr->name, expected);
    }
    if (nbytes > 0 && data == nullptr && !streamed) {
        fail("gguf_writer: tensor '{}': no data", name);
    }
    tensors_.push_back(tensor{std::move(name), type, std::move(dims), data, nbytes, streamed});
    return *this;
}

gguf_writer & gguf_writer::add_tensor(std::string name, ggml_type type, std::vector<int64_t> dims, const void * data,
                                      uint64_t nbytes) {
    return add(std::move(name), type, std::move(dims), data, nbytes, false);
}

gguf_writer & gguf_writer::add_tensor_info(std::string name, ggml_type type, std::vector<int64_t> dims) {
    uint64_t nbytes = 0;
    if (const auto tr = find_type(static_cast<uint32_t>(type)); tr && !dims.empty() && dims.size() <= 4) {
        // The size the shape implies; add() checks the shape (and its overflows) as for add_tensor.
        uint64_t n_el = 1;
        bool     ok   = true;
        for (int64_t d : dims) {
            ok = ok && d >= 0 && !__builtin_mul_overflow(n_el, static_cast<uint64_t>(d), &n_el);
        }
        if (ok && tr->block_size > 0) {
            nbytes = n_el / static_cast<uint64_t>(tr->block_size) * static_cast<uint64_t>(tr->type_size);
        }
    }
    return add(std::move(name), type, std::move(dims), nullptr, nbytes, true);
}

std::vector<uint8_t> gguf_writer::encode_head() const {
    std::vector<uint8_t> out;
    append_bytes(out, "GGUF", 4);
    append<uint32_t>(out, 3);
    append<uint64_t>(out, tensors_.size());
    append<uint64_t>(out, kvs_.size());
    for (const kv & e : kvs_) {
        append_string(out, e.key);
        append_bytes(out, e.encoded.data(), e.encoded.size());
    }
    uint64_t offset = 0;  // relative to the data section; every tensor starts aligned
    for (const tensor & t : tensors_) {
        append_string(out, t.name);
        append<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
        for (int64_t d : t.dims) {
            append<uint64_t>(out, static_cast<uint64_t>(d));
        }
        append<uint32_t>(out, static_cast<uint32_t>(t.type));
        append<uint64_t>(out, offset);
        offset += t.nbytes + padding(t.nbytes, alignment_);
    }
    out.resize(out.size() + padding(out.size(), alignment_), 0);
    return out;
}

std::vector<uint8_t> gguf_writer::to_bytes() const {
    std::vector<uint8_t> out = encode_head();
    for (const tensor & t : tensors_) {
        if (t.streamed) {
            fail("gguf_writer: tensor '{}' was declared without data; write it with a producer", t.name);
        }
        append_bytes(out, t.data, t.nbytes);
        out.resize(out.size() + padding(t.nbytes, alignment_), 0);
    }
    return out;
}

void gguf_writer::write(const std::string & path) const {
    write(path, tensor_producer{});
}

void gguf_writer::write(const std::string & path, const tensor_producer & produce) const {
    for (const tensor & t : tensors_) {
        if (t.streamed && !produce) {
            fail("gguf_writer: tensor '{}' was declared without data; write it with a producer", t.name);
        }
    }
    const std::string tmp = path + ".tmp";
    std::FILE *       fp  = std::fopen(tmp.c_str(), "wb");
    if (fp == nullptr) {
        fail("{}: cannot create {}: {}", path, tmp, std::strerror(errno));
    }
    // Streams tensor data straight from the caller's buffers: models are larger than memory.
    const std::vector<uint8_t> zeros(alignment_, 0);
    uint64_t                   written = 0;
    const auto                 abandon = [&] {
        std::fclose(fp);
        std::remove(tmp.c_str());
    };
    auto put_bytes = [&](const void * p, uint64_t n) {
        if (n > 0 && std::fwrite(p, 1, n, fp) != n) {
            const int e = errno;
            abandon();
            fail("{}: write failed at offset {}: {}", path, written, std::strerror(e));
        }
        written += n;
    };
    const std::vector<uint8_t> head = encode_head();
    put_bytes(head.data(), head.size());
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const tensor & t = tensors_[i];
        if (t.streamed) {
            std::span<const uint8_t> bytes;
            try {
                bytes = produce(i);
            } catch (...) {
                abandon();
                throw;
            }
            if (bytes.size() != t.nbytes) {
                abandon();
                fail("gguf_writer: tensor '{}': the producer gave {} bytes, its shape needs {}", t.name, bytes.size(),
                     t.nbytes);
            }
            put_bytes(bytes.data(), bytes.size());
        } else {
            put_bytes(t.data, t.nbytes);
        }
        put_bytes(zeros.data(), padding(t.nbytes, alignment_));
    }
    if (std::fclose(fp) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        fail("{}: write failed when closing {}: {}", path, tmp, std::strerror(e));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        fail("{}: cannot rename {} into place: {}", path, tmp, std::strerror(e));
    }
}

}  // namespace sluice
