// A bounds-checked cursor over an untrusted GGUF image (private to src/gguf). Every read
// checks the bytes left first, and every failure throws sluice::error naming the file, the
// part being read ("metadata 'general.name'"), the field and the byte offset.
#pragma once

#include "util/error.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace sluice {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// Names and keys from a file go into error messages: escape what would garble a terminal and
// cut what would flood it.
inline std::string gguf_printable(std::string_view s) {
    constexpr size_t k_max_shown = 80;
    std::string      out;
    for (size_t k = 0; k < s.size() && k < k_max_shown; ++k) {
        const auto c = static_cast<unsigned char>(s[k]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("\\x{:02x}", c);
        }
    }
    if (s.size() > k_max_shown) {
        out += "...";
    }
    return out;
}

class gguf_cursor {
  public:
    gguf_cursor(std::span<const uint8_t> bytes, const std::string & file) : bytes_(bytes), file_(file) {}

    uint64_t pos() const { return pos_; }
    uint64_t size() const { return bytes_.size(); }
    uint64_t remaining() const { return bytes_.size() - pos_; }

    // The part of the file being read, used as the prefix of every error.
    void                set_where(std::string where) { where_ = std::move(where); }
    const std::string & where() const { return where_; }

    [[noreturn]] void fail_at(uint64_t offset, std::string_view field, std::string_view problem) const {
        fail("{}: {} {} at offset {}: {}", file_, where_, field, offset, problem);
    }

    // Consumes n bytes and returns a pointer to the first; throws if fewer are left.
    const uint8_t * take(uint64_t n, std::string_view field) {
        if (n > remaining()) {
            fail_at(pos_, field, fmt::format("file truncated: needs {} bytes, {} left", n, remaining()));
        }
        const uint8_t * p = bytes_.data() + pos_;
        pos_ += n;
        return p;
    }

    // A little-endian scalar; the image is unaligned, hence memcpy.
    template <typename T>
    T read(std::string_view field) {
        T v;
        std::memcpy(&v, take(sizeof(T), field), sizeof(T));
        return v;
    }

    // u64 length + bytes, viewed in place.
    std::string_view read_string(std::string_view field) {
        const uint64_t at  = pos_;
        const uint64_t len = read<uint64_t>(field);
        if (len > remaining()) {
            fail_at(at, field,
                    fmt::format("file truncated: string length {} but only {} bytes left", len, remaining()));
        }
        return {reinterpret_cast<const char *>(take(len, field)), static_cast<size_t>(len)};
    }

  private:
    std::span<const uint8_t> bytes_;
    const std::string &      file_;
    std::string              where_;
    uint64_t                 pos_ = 0;
};

}  // namespace sluice
