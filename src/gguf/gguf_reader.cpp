// The GGUF parser: walks header, metadata and tensor infos through a gguf_cursor and checks
// every count, length, type id, shape and offset against the file before it is used, so a
// gguf_file that comes out of here only holds views that lie inside the image.
#include "gguf/gguf.h"
#include "gguf/gguf_cursor.h"

#include <algorithm>
#include <limits>

namespace sluice {
namespace {

// Smallest encodings, used to reject counts that cannot fit before anything is reserved:
// a kv is key length + 1 key byte + value type + a 1-byte value; a tensor info is name
// length + 1 name byte + n_dims + one dim + type + offset.
constexpr uint64_t k_min_kv_bytes     = 8 + 1 + 4 + 1;
constexpr uint64_t k_min_tensor_bytes = 8 + 1 + 4 + 8 + 4 + 8;

// Caps far above any real model (DeepSeek-V3 has ~1,000 tensors and ~50 keys, the largest
// vocabularies ~256k tokens and merges) that keep a hostile count from turning into a huge
// allocation even when the file is large: parsed entries take several times the bytes they
// occupy in the file (a 12-byte nested array becomes a ~140-byte gguf_value).
constexpr uint64_t k_max_tensors       = uint64_t{1} << 20;
constexpr uint64_t k_max_kvs           = uint64_t{1} << 20;
constexpr uint64_t k_max_array_strings = uint64_t{1} << 26;  // per file, in all string arrays
constexpr uint64_t k_max_nested_arrays = uint64_t{1} << 20;  // per file, in all arrays of arrays
constexpr int      k_max_array_depth   = 8;
constexpr uint32_t k_max_value_type    = static_cast<uint32_t>(gguf_value_type::FLOAT64);

constexpr const char * k_dim_fields[4] = {"dim 0", "dim 1", "dim 2", "dim 3"};

uint32_t byte_swap(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

bool is_unsigned_type(gguf_value_type t) {
    return t == gguf_value_type::UINT8 || t == gguf_value_type::UINT16 || t == gguf_value_type::UINT32 ||
           t == gguf_value_type::UINT64;
}

void set_unsigned(gguf_value & v, uint64_t x) {
    v.u = x;
    v.i = x <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? static_cast<int64_t>(x) : 0;
    v.f = static_cast<double>(x);
}

void set_signed(gguf_value & v, int64_t x) {
    v.i = x;
    v.u = x >= 0 ? static_cast<uint64_t>(x) : 0;
    v.f = static_cast<double>(x);
}

}  // namespace

class gguf_parser {
  public:
    explicit gguf_parser(gguf_file & f) : f_(f), cur_(f.bytes_, f.name_) {}

    void run() {
        read_header();
        read_metadata();
        read_tensor_infos();
        place_data();
    }

  private:
    void            read_header();
    void            read_metadata();
    void            check_alignment(const gguf_value & v, uint64_t type_at);
    gguf_value_type read_type(std::string_view field);
    void            read_value(gguf_value & v, gguf_value_type t, int depth);
    void            read_array(gguf_value & v, int depth);
    void            read_tensor_infos();
    void            read_tensor_info(uint64_t index);
    void            place_data();

    gguf_file &           f_;
    gguf_cursor           cur_;
    uint64_t              n_tensors_ = 0;
    uint64_t              n_kvs_     = 0;
    std::vector<uint64_t> offset_at_;      // file offset of each tensor's offset field, for errors
    uint64_t              n_strings_ = 0;  // elements of string arrays so far
    uint64_t              n_nested_  = 0;  // elements of arrays of arrays so far
};

void gguf_parser::read_header() {
    cur_.set_where("header");
    const uint8_t * magic = cur_.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) {
        if (std::memcmp(magic, "FUGG", 4) == 0) {
            cur_.fail_at(0, "magic",
                         "big-endian GGUF file (magic reads \"FUGG\"); only little-endian files are supported");
        }
        cur_.fail_at(0, "magic",
                     fmt::format("not a GGUF file: magic bytes {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\"",
                                 magic[0], magic[1], magic[2], magic[3]));
    }
    const uint32_t version = cur_.read<uint32_t>("version");
    if (version == 1) {
        cur_.fail_at(4, "version", "GGUF version 1 (32-bit counts) is not supported; re-convert the model to v3");
    }
    if (version != 2 && version != 3) {
        // A big-endian writer stores the version byte-swapped: 3 reads as 0x03000000.
        if (version > 0xffff && byte_swap(version) <= 0xffff) {
            cur_.fail_at(4, "version",
                         fmt::format("big-endian GGUF file (version reads as {:#x}, byte-swapped {}); only "
                                     "little-endian files are supported",
                                     version, byte_swap(version)));
        }
        cur_.fail_at(4, "version", fmt::format("unsupported GGUF version {} (supported: 2, 3)", version));
    }
    f_.version_ = version;

    n_tensors_          = cur_.read<uint64_t>("tensor count");
    n_kvs_              = cur_.read<uint64_t>("metadata count");
    const uint64_t left = cur_.remaining();
    if (n_tensors_ > k_max_tensors || n_tensors_ > left / k_min_tensor_bytes) {
        cur_.fail_at(8, "tensor count",
                     fmt::format("{} tensors cannot fit in the {} bytes after the header (truncated or corrupt; each "
                                 "needs at least {}, cap {})",
                                 n_tensors_, left, k_min_tensor_bytes, k_max_tensors));
    }
    if (n_kvs_ > k_max_kvs || n_kvs_ > left / k_min_kv_bytes) {
        cur_.fail_at(16, "metadata count",
                     fmt::format("{} keys cannot fit in the {} bytes after the header (truncated or corrupt; each "
                                 "needs at least {}, cap {})",
                                 n_kvs_, left, k_min_kv_bytes, k_max_kvs));
    }
    // Both are capped at 2^20, so the sum cannot overflow.
    if (n_tensors_ * k_min_tensor_bytes + n_kvs_ * k_min_kv_bytes > left) {
        cur_.fail_at(16, "metadata count",
                     fmt::format("{} keys and {} tensors cannot fit together in the {} bytes after the header", n_kvs_,
                                 n_tensors_, left));
    }
}

gguf_value_type gguf_parser::read_type(std::string_view field) {
    const uint64_t at = cur_.pos();
    const uint32_t id = cur_.read<uint32_t>(field);
    if (id > k_max_value_type) {
        cur_.fail_at(at, field, fmt::format("unknown value type {}", id));
    }
    return static_cast<gguf_value_type>(id);
}

void gguf_parser::read_value(gguf_value & v, gguf_value_type t, int depth) {
    v.type = t;
    switch (t) {
        case gguf_value_type::UINT8:
            set_unsigned(v, cur_.read<uint8_t>("value"));
            break;
        case gguf_value_type::INT8:
            set_signed(v, cur_.read<int8_t>("value"));
            break;
        case gguf_value_type::UINT16:
            set_unsigned(v, cur_.read<uint16_t>("value"));
            break;
        case gguf_value_type::INT16:
            set_signed(v, cur_.read<int16_t>("value"));
            break;
        case gguf_value_type::UINT32:
            set_unsigned(v, cur_.read<uint32_t>("value"));
            break;
        case gguf_value_type::INT32:
            set_signed(v, cur_.read<int32_t>("value"));
            break;
        case gguf_value_type::UINT64:
            set_unsigned(v, cur_.read<uint64_t>("value"));
            break;
        case gguf_value_type::INT64:
            set_signed(v, cur_.read<int64_t>("value"));
            break;
        case gguf_value_type::FLOAT32:
            v.f = cur_.read<float>("value");
            break;
        case gguf_value_type::FLOAT64:
            v.f = cur_.read<double>("value");
            break;
        case gguf_value_type::BOOL: {
            // Any nonzero byte is true, as in llama.cpp.
            const uint8_t b = cur_.read<uint8_t>("value");
            v.u             = b != 0;
            v.i             = b != 0;
            break;
        }
        case gguf_value_type::STRING:
            v.str = cur_.read_string("value");
            break;
        case gguf_value_type::ARRAY:
            read_array(v, depth);
            break;
    }
}

// Reads element type, count and elements of an array whose type id was already consumed.
void gguf_parser::read_array(gguf_value & v, int depth) {
    if (depth >= k_max_array_depth) {
        cur_.fail_at(cur_.pos(), "array element type",
                     fmt::format("arrays nested more than {} deep", k_max_array_depth));
    }
    v.type                  = gguf_value_type::ARRAY;
    v.elem_type             = read_type("array element type");
    const uint64_t count_at = cur_.pos();
    v.count                 = cur_.read<uint64_t>("array count");

    // Every element needs at least this much of what is left, so the count can be
    // checked (without overflow) before anything is reserved.
    uint64_t min_elem = gguf_scalar_size(v.elem_type);
    if (v.elem_type == gguf_value_type::STRING) {
        min_elem = 8;
    } else if (v.elem_type == gguf_value_type::ARRAY) {
        min_elem = 4 + 8;
    }
    if (v.count > cur_.remaining() / min_elem) {
        cur_.fail_at(count_at, "array count",
                     fmt::format("{} elements of type {} cannot fit in the {} bytes left (truncated or corrupt)",
                                 v.count, gguf_value_type_name(v.elem_type), cur_.remaining()));
    }

    // Only string arrays and nested arrays allocate per element; their totals are capped.
    uint64_t * used = v.elem_type == gguf_value_type::STRING  ? &n_strings_
                      : v.elem_type == gguf_value_type::ARRAY ? &n_nested_
                                                              : nullptr;
    if (used != nullptr) {
        const uint64_t cap = used == &n_strings_ ? k_max_array_strings : k_max_nested_arrays;
        if (v.count > cap - *used) {
            cur_.fail_at(count_at, "array count",
                         fmt::format("{} elements of type {} exceed the cap of {} per file", v.count,
                                     gguf_value_type_name(v.elem_type), cap));
        }
        *used += v.count;
    }

    if (v.elem_type == gguf_value_type::STRING) {
        v.strings.reserve(v.count);
        for (uint64_t k = 0; k < v.count; ++k) {
            v.strings.push_back(cur_.read_string("array string"));
        }
    } else if (v.elem_type == gguf_value_type::ARRAY) {
        v.items.resize(v.count);
        for (uint64_t k = 0; k < v.count; ++k) {
            read_array(v.items[k], depth + 1);
        }
    } else {
        v.raw = cur_.take(v.count * min_elem, "array data");
    }
}

void gguf_parser::check_alignment(const gguf_value & v, uint64_t type_at) {
    if (!is_unsigned_type(v.type)) {
        cur_.fail_at(
            type_at, "value type",
            fmt::format("general.alignment must be an unsigned integer, not {}", gguf_value_type_name(v.type)));
    }
    if (v.u == 0 || v.u > std::numeric_limits<uint32_t>::max() || (v.u & (v.u - 1)) != 0) {
        cur_.fail_at(type_at + 4, "value",
                     fmt::format("general.alignment {} is not a power of two that fits 32 bits", v.u));
    }
    f_.alignment_ = v.u;
}

void gguf_parser::read_metadata() {
    f_.kvs_.reserve(n_kvs_);
    f_.kv_index_.reserve(n_kvs_);
    for (uint64_t k = 0; k < n_kvs_; ++k) {
        cur_.set_where(fmt::format("metadata kv {}", k));
        const uint64_t         key_at = cur_.pos();
        const std::string_view key    = cur_.read_string("key");
        if (key.empty()) {
            cur_.fail_at(key_at, "key", "empty key");
        }
        cur_.set_where(fmt::format("metadata '{}'", gguf_printable(key)));
        if (auto it = f_.kv_index_.find(key); it != f_.kv_index_.end()) {
            cur_.fail_at(key_at, "key", fmt::format("duplicate key (first at offset {})", f_.kvs_[it->second].offset));
        }
        const uint64_t        type_at = cur_.pos();
        const gguf_value_type type    = read_type("value type");
        gguf_kv               kv{key, gguf_value{}, key_at};
        read_value(kv.value, type, 0);
        if (key == "general.alignment") {
            check_alignment(kv.value, type_at);
        }
        f_.kv_index_.emplace(key, f_.kvs_.size());
        f_.kvs_.push_back(std::move(kv));
    }
}

void gguf_parser::read_tensor_info(uint64_t index) {
    cur_.set_where(fmt::format("tensor info {}", index));
    gguf_tensor t;
    t.info_offset = cur_.pos();
    t.name        = cur_.read_string("name");
    if (t.name.empty()) {
        cur_.fail_at(t.info_offset, "name", "empty tensor name");
    }
    cur_.set_where(fmt::format("tensor '{}'", gguf_printable(t.name)));
    if (auto it = f_.tensor_index_.find(t.name); it != f_.tensor_index_.end()) {
        cur_.fail_at(t.info_offset, "name",
                     fmt::format("duplicate tensor name (first at offset {})", f_.tensors_[it->second].info_offset));
    }

    const uint64_t n_dims_at = cur_.pos();
    const uint32_t n_dims    = cur_.read<uint32_t>("n_dims");
    if (n_dims < 1 || n_dims > 4) {
        cur_.fail_at(n_dims_at, "n_dims", fmt::format("{} dimensions (must be 1 to 4)", n_dims));
    }
    t.n_dims               = static_cast<int>(n_dims);
    const uint64_t dims_at = cur_.pos();
    for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t at  = cur_.pos();
        const uint64_t dim = cur_.read<uint64_t>(k_dim_fields[d]);
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            cur_.fail_at(at, k_dim_fields[d], fmt::format("negative dimension {}", static_cast<int64_t>(dim)));
        }
        t.ne[d] = static_cast<int64_t>(dim);
    }

    const uint64_t type_at = cur_.pos();
    const uint32_t type_id = cur_.read<uint32_t>("type");
    const auto     tr      = find_type(type_id);
    if (!tr) {
        cur_.fail_at(type_at, "type", fmt::format("unknown ggml type id {}", type_id));
    }
    t.type = tr->type;

    offset_at_.push_back(cur_.pos());
    t.offset = cur_.read<uint64_t>("offset");

    // n_elements() and n_rows() multiply left to right in int64_t: both must be exact.
    int64_t n_el = 0;
    int64_t rows = 0;
    if (__builtin_mul_overflow(t.ne[0], t.ne[1], &n_el) || __builtin_mul_overflow(n_el, t.ne[2], &n_el) ||
        __builtin_mul_overflow(n_el, t.ne[3], &n_el) || __builtin_mul_overflow(t.ne[1], t.ne[2], &rows) ||
        __builtin_mul_overflow(rows, t.ne[3], &rows)) {
        cur_.fail_at(
            dims_at, "dims",
            fmt::format("element count {} x {} x {} x {} overflows 64 bits", t.ne[0], t.ne[1], t.ne[2], t.ne[3]));
    }
    if (t.ne[0] % tr->block_size != 0) {
        cur_.fail_at(
            dims_at, "dim 0",
            fmt::format("{} is not a multiple of the block size {} of type {}", t.ne[0], tr->block_size, tr->name));
    }
    const auto blocks = static_cast<uint64_t>(n_el / tr->block_size);
    if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(tr->type_size), &t.nbytes)) {
        cur_.fail_at(dims_at, "dims", fmt::format("byte size of {} blocks of {} overflows 64 bits", blocks, tr->name));
    }
    if (t.offset % f_.alignment_ != 0) {
        cur_.fail_at(offset_at_.back(), "offset",
                     fmt::format("data offset {} is not a multiple of the alignment {}", t.offset, f_.alignment_));
    }
    f_.tensor_index_.emplace(t.name, f_.tensors_.size());
    f_.tensors_.push_back(t);
}

void gguf_parser::read_tensor_infos() {
    f_.tensors_.reserve(n_tensors_);
    f_.tensor_index_.reserve(n_tensors_);
    offset_at_.reserve(n_tensors_);
    for (uint64_t k = 0; k < n_tensors_; ++k) {
        read_tensor_info(k);
    }
}

// The data section starts at the aligned end of the tensor infos; every tensor must lie
// inside the file.
void gguf_parser::place_data() {
    const uint64_t end_of_infos = cur_.pos();
    const uint64_t size         = cur_.size();
    // end_of_infos <= size < 2^63 and alignment <= 2^31: no overflow.
    const uint64_t data_offset = (end_of_infos + f_.alignment_ - 1) / f_.alignment_ * f_.alignment_;
    if (data_offset > size) {
        if (f_.tensors_.empty()) {
            // A file without tensors may end before the padding (llama.cpp reads such files).
            f_.data_offset_ = size;
            return;
        }
        cur_.set_where("data section");
        cur_.fail_at(
            end_of_infos, "padding",
            fmt::format("file truncated: data section would start at {} but the file has {} bytes", data_offset, size));
    }
    f_.data_offset_          = data_offset;
    const uint64_t data_size = size - data_offset;
    for (size_t k = 0; k < f_.tensors_.size(); ++k) {
        gguf_tensor & t = f_.tensors_[k];
        cur_.set_where(fmt::format("data section, tensor '{}'", gguf_printable(t.name)));
        if (t.offset > data_size) {
            // The field or the file may be at fault: a truncated file looks the same.
            cur_.fail_at(offset_at_[k], "offset",
                         fmt::format("data offset {} is past the end of the data section ({} bytes from offset {}): "
                                     "offset out of range or file truncated",
                                     t.offset, data_size, data_offset));
        }
        if (t.nbytes > data_size - t.offset) {
            cur_.fail_at(data_offset + t.offset, "data",
                         fmt::format("file truncated: {} bytes of data but only {} left (info at offset {})", t.nbytes,
                                     data_size - t.offset, t.info_offset));
        }
        t.data = f_.bytes_.data() + data_offset + t.offset;
    }
    // No two tensors may share bytes: a writer never does that, and a weight that is also
    // another tensor's data is a corrupt or crafted file.
    std::vector<size_t> order;
    order.reserve(f_.tensors_.size());
    for (size_t k = 0; k < f_.tensors_.size(); ++k) {
        if (f_.tensors_[k].nbytes > 0) {
            order.push_back(k);
        }
    }
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return f_.tensors_[a].offset < f_.tensors_[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
        const gguf_tensor & prev = f_.tensors_[order[i - 1]];
        const gguf_tensor & t    = f_.tensors_[order[i]];
        // prev.offset + prev.nbytes <= data_size was checked above: no overflow.
        if (prev.offset + prev.nbytes > t.offset) {
            cur_.set_where(fmt::format("data section, tensor '{}'", gguf_printable(t.name)));
            cur_.fail_at(
                offset_at_[order[i]], "offset",
                fmt::format("data bytes {}..{} overlap those of tensor '{}' ({}..{})", t.offset, t.offset + t.nbytes,
                            gguf_printable(prev.name), prev.offset, prev.offset + prev.nbytes));
        }
    }
}

gguf_file gguf_file::parse(std::span<const uint8_t> bytes, const std::string & name) {
    gguf_file f;
    f.bytes_ = bytes;
    f.name_  = name;
    gguf_parser(f).run();
    return f;
}

gguf_file gguf_file::open(const std::string & path) {
    gguf_file f = open_one(path);
    f.join_parts();
    return f;
}

gguf_file gguf_file::open_one(const std::string & path) {
    mapped_file map(path);
    gguf_file   f = parse({map.data(), map.size()}, path);
    // The views stay valid: moving a mapping moves the pointer, not the pages.
    f.map_.emplace(std::move(map));
    return f;
}

}  // namespace sluice
