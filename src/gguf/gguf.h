// GGUF v2/v3 files (llama.cpp's model format): a validated, read-only view of a mmap'd file.
//
//   header   magic "GGUF", u32 version, u64 tensor count, u64 metadata count
//   metadata count x (string key, u32 value type, value)
//   tensors  count x (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset)
//   padding  to general.alignment (default 32)
//   data     tensor bytes; each offset is relative to here and aligned
//
// All integers are little-endian; strings are u64 length + bytes (no NUL). Everything is
// checked before use: a file that fails throws sluice::error naming the file, the field or
// tensor, and the byte offset of the problem.
#pragma once

#include "gguf/split.h"
#include "tensor/types.h"
#include "util/mapped_file.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice {

enum class gguf_value_type : uint32_t {
    UINT8   = 0,
    INT8    = 1,
    UINT16  = 2,
    INT16   = 3,
    UINT32  = 4,
    INT32   = 5,
    FLOAT32 = 6,
    BOOL    = 7,
    STRING  = 8,
    ARRAY   = 9,
    UINT64  = 10,
    INT64   = 11,
    FLOAT64 = 12,
};

std::string_view gguf_value_type_name(gguf_value_type t);

// Byte size of a fixed-size scalar type; 0 for STRING and ARRAY.
uint64_t gguf_scalar_size(gguf_value_type t);

// One metadata value. Scalars are decoded; strings and numeric arrays point into the mapping
// (they live as long as the gguf_file); string arrays and nested arrays are indexed.
struct gguf_value {
    gguf_value_type type = gguf_value_type::UINT8;

    // scalars: integers widen into i or u (both hold the value when it fits), floats into f
    int64_t  i = 0;
    uint64_t u = 0;
    double   f = 0.0;

    std::string_view str;  // STRING

    // ARRAY
    gguf_value_type               elem_type = gguf_value_type::UINT8;
    uint64_t                      count     = 0;
    const uint8_t *               raw       = nullptr;  // numeric elements, little-endian, packed
    std::vector<std::string_view> strings;              // elem_type == STRING
    std::vector<gguf_value>       items;                // elem_type == ARRAY (nested)

    bool is_integer() const;
    bool is_float() const { return type == gguf_value_type::FLOAT32 || type == gguf_value_type::FLOAT64; }

    // Element k of a numeric array, widened (caller checks k < count).
    double  array_f64(uint64_t k) const;
    int64_t array_i64(uint64_t k) const;
};

struct gguf_kv {
    std::string_view key;
    gguf_value       value;
    uint64_t         offset;  // byte offset of the key in the file
};

// A tensor as the file describes it. Dims are GGUF order: ne[0] is the contiguous (row)
// dimension, so a matrix of `rows` rows with `cols` columns is ne = {cols, rows}.
struct gguf_tensor {
    std::string_view name;
    ggml_type        type;
    int              n_dims      = 0;
    int64_t          ne[4]       = {1, 1, 1, 1};
    uint64_t         offset      = 0;  // relative to the data section
    uint64_t         nbytes      = 0;
    const uint8_t *  data        = nullptr;  // into the mapping
    uint64_t         info_offset = 0;        // byte offset of the tensor info in the file
    uint32_t         part        = 0;        // the file of a split model it lies in (gguf_file::part)

    int64_t  n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t  n_rows() const { return ne[1] * ne[2] * ne[3]; }
    uint64_t row_bytes() const { return sluice::row_bytes(type, ne[0]); }
};

class gguf_file {
  public:
    // Maps and validates `path`. A file that is the first part of a split model opens every
    // part (found by name next to it) and checks that they belong together; tensors() then
    // lists the tensors of all parts, each knowing its part. Throws sluice::error on any
    // problem, naming the file at fault.
    static gguf_file open(const std::string & path);

    // Validates an in-memory image (used by the fuzzer and tests); `name` is used in errors.
    // The bytes must outlive the returned object.
    static gguf_file parse(std::span<const uint8_t> bytes, const std::string & name);
    // A temporary buffer would die before the views into it.
    static gguf_file parse(std::vector<uint8_t> && bytes, const std::string & name) = delete;

    const std::string &      path() const { return name_; }
    uint32_t                 version() const { return version_; }
    uint64_t                 alignment() const { return alignment_; }
    uint64_t                 data_offset() const { return data_offset_; }
    uint64_t                 file_size() const { return bytes_.size(); }
    std::span<const uint8_t> bytes() const { return bytes_; }

    // The first part's metadata (split.* keys included); the tensors of every part.
    const std::vector<gguf_kv> &     metadata() const { return kvs_; }
    const std::vector<gguf_tensor> & tensors() const { return tensors_; }

    // The files of a split model (1 for a whole file): part(0) is this file (path(),
    // data_offset(), file_size() and bytes() are the first part's); part(i) for i > 0 is
    // that part as parsed alone (its own metadata and tensors).
    size_t                   n_parts() const { return 1 + parts_.size(); }
    const gguf_file &        part(size_t i) const { return i == 0 ? *this : parts_[i - 1]; }
    std::vector<std::string> part_paths() const;
    uint64_t                 total_size() const;  // bytes of every part
    // The file a tensor lies in, and where its data starts there (absolute byte offset).
    const std::string & path_of(const gguf_tensor & t) const { return part(t.part).path(); }
    uint64_t            file_offset(const gguf_tensor & t) const { return part(t.part).data_offset() + t.offset; }

    const gguf_value *  find(std::string_view key) const;
    const gguf_tensor * find_tensor(std::string_view name) const;

    // Typed accessors: nullopt when the key is absent; a key present with an incompatible
    // type throws (naming the key, its type and the file). Integers of any width convert
    // when the value fits the requested type.
    std::optional<std::string_view> get_string(std::string_view key) const;
    std::optional<uint64_t>         get_u64(std::string_view key) const;
    std::optional<uint32_t>         get_u32(std::string_view key) const;
    std::optional<int64_t>          get_i64(std::string_view key) const;
    std::optional<double>           get_f64(std::string_view key) const;  // any float or integer
    std::optional<float>            get_f32(std::string_view key) const {
                   auto v = get_f64(key);
                   return v ? std::optional<float>(float(*v)) : std::nullopt;
    }
    std::optional<bool> get_bool(std::string_view key) const;
    const gguf_value *  get_array(std::string_view key) const;  // nullptr if absent

    // Required variants: throw naming the missing key.
    std::string_view    require_string(std::string_view key) const;
    uint32_t            require_u32(std::string_view key) const;
    const gguf_tensor & require_tensor(std::string_view name) const;

    // "general.architecture", or "" if absent.
    std::string_view architecture() const;

  private:
    gguf_file() = default;

    static gguf_file open_one(const std::string & path);  // one file, its split keys unread
    void             join_parts();                        // gguf_split.cpp

    std::optional<mapped_file>                   map_;  // set by open(); parse() views caller-owned bytes
    std::span<const uint8_t>                     bytes_;
    std::string                                  name_;
    uint32_t                                     version_     = 0;
    uint64_t                                     alignment_   = 32;
    uint64_t                                     data_offset_ = 0;
    std::vector<gguf_kv>                         kvs_;
    std::vector<gguf_tensor>                     tensors_;
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
    std::vector<gguf_file>                       parts_;  // the split model's other parts, in order

    friend class gguf_parser;
};

// Writes GGUF v3 files: metadata in insertion order, tensors in insertion order, data aligned.
// Used by tests, the quantizer, the synthetic-model generator and the pruner.
class gguf_writer {
  public:
    gguf_writer & set_u8(std::string key, uint8_t v);
    gguf_writer & set_i8(std::string key, int8_t v);
    gguf_writer & set_u16(std::string key, uint16_t v);
    gguf_writer & set_i16(std::string key, int16_t v);
    gguf_writer & set_u32(std::string key, uint32_t v);
    gguf_writer & set_i32(std::string key, int32_t v);
    gguf_writer & set_u64(std::string key, uint64_t v);
    gguf_writer & set_i64(std::string key, int64_t v);
    gguf_writer & set_f32(std::string key, float v);
    gguf_writer & set_f64(std::string key, double v);
    gguf_writer & set_bool(std::string key, bool v);
    gguf_writer & set_string(std::string key, std::string_view v);
    gguf_writer & set_array_strings(std::string key, const std::vector<std::string> & v);
    // Numeric array: `count` elements of `elem_type`, `data` packed little-endian.
    gguf_writer & set_array_raw(std::string key, gguf_value_type elem_type, const void * data, uint64_t count);
    gguf_writer & set_array_f32(std::string key, const std::vector<float> & v);
    gguf_writer & set_array_i32(std::string key, const std::vector<int32_t> & v);
    // Copies a value read from another file (any type, nested arrays included).
    gguf_writer & set_value(std::string key, const gguf_value & v);

    // Adds a tensor; `data` must hold exactly the bytes the type and dims imply, and stay
    // valid until write(). dims are GGUF order (ne[0] first).
    gguf_writer & add_tensor(std::string name, ggml_type type, std::vector<int64_t> dims, const void * data,
                             uint64_t nbytes);

    // Declares a tensor whose bytes are produced while the file is written (write() with a
    // producer): its size follows from type and dims, so the head can be written first.
    gguf_writer & add_tensor_info(std::string name, ggml_type type, std::vector<int64_t> dims);

    // general.alignment (default 32); also written to the metadata when not 32.
    gguf_writer & set_alignment(uint32_t alignment);

    // Serialises to a file (written to path + ".tmp", then renamed) or to memory.
    void                 write(const std::string & path) const;
    std::vector<uint8_t> to_bytes() const;

    // Streaming: writes the head (metadata, every tensor's info, padding), then each tensor's
    // bytes in the order added, with alignment padding. A tensor added with data is copied
    // from it; for one added with add_tensor_info, produce(i) is called (i: its index in the
    // order added) and returns exactly its bytes, valid until the next call, so only one
    // tensor need be in memory at a time. The same tensors give the same bytes as write().
    using tensor_producer = std::function<std::span<const uint8_t>(size_t)>;
    void write(const std::string & path, const tensor_producer & produce) const;

    // Writes a split model as llama.cpp's gguf-split does (gguf/split.h): tensors in the
    // order added, a part closing when the next tensor (padded to the alignment) would take
    // its tensor bytes past max_part_bytes, each part holding at least one tensor. The first
    // part gets the metadata (any split.* keys in it are replaced), every part split.no,
    // split.count and split.tensors.count. Parts are PREFIX-0000i-of-0000N.gguf, PREFIX being
    // `path` less a ".gguf" ending; returns their paths. produce(i) as for write(), with i
    // the tensor's index over all parts. A failure removes the parts already written.
    std::vector<std::string> write_split(const std::string & path, uint64_t max_part_bytes,
                                         const tensor_producer & produce = {}) const;
    // The index of each part's first tensor, for write_split with this size.
    std::vector<size_t> split_points(uint64_t max_part_bytes) const;
    // write(path, produce) when max_part_bytes is 0, else write_split; the files written.
    std::vector<std::string> write_maybe_split(const std::string & path, uint64_t max_part_bytes,
                                               const tensor_producer & produce = {}) const;

  private:
    struct kv {
        std::string          key;
        std::vector<uint8_t> encoded;  // type id + value, already in file form
    };
    struct tensor {
        std::string          name;
        ggml_type            type;
        std::vector<int64_t> dims;
        const void *         data;
        uint64_t             nbytes;
        bool                 streamed;  // added with add_tensor_info: bytes come from a producer
    };
    gguf_writer & put(std::string key, std::vector<uint8_t> encoded);
    gguf_writer & add(std::string name, ggml_type type, std::vector<int64_t> dims, const void * data, uint64_t nbytes,
                      bool streamed);
    std::vector<uint8_t> encode_head() const;  // header, metadata, tensor infos, padding

    std::vector<kv>     kvs_;
    std::vector<tensor> tensors_;
    uint32_t            alignment_ = 32;
};

}  // namespace sluice
