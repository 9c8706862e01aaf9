// Helpers for the GGUF tests: a little-endian byte builder for hand-made (often malformed)
// files, and checks on the sluice::error a parse throws.
#pragma once

#include "gguf/gguf.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

struct gguf_bytes {
    std::vector<uint8_t> b;

    size_t size() const { return b.size(); }

    template <typename T>
    gguf_bytes & put(T v) {
        const size_t at = b.size();
        b.resize(at + sizeof(T));
        std::memcpy(b.data() + at, &v, sizeof(T));
        return *this;
    }
    gguf_bytes & u8(uint8_t v) { return put(v); }
    gguf_bytes & u32(uint32_t v) { return put(v); }
    gguf_bytes & u64(uint64_t v) { return put(v); }
    gguf_bytes & raw(std::string_view s) {
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    gguf_bytes & str(std::string_view s) { return u64(s.size()).raw(s); }
    gguf_bytes & header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
        return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
    }
    gguf_bytes & type(gguf_value_type t) { return u32(static_cast<uint32_t>(t)); }
    // A metadata u32 key-value.
    gguf_bytes & kv_u32(std::string_view key, uint32_t v) { return str(key).type(gguf_value_type::UINT32).u32(v); }
    // A tensor info.
    gguf_bytes & tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(dims.size()));
        for (uint64_t d : dims) {
            u64(d);
        }
        return u32(type).u64(offset);
    }
    gguf_bytes & pad_to(size_t alignment) {
        while (b.size() % alignment != 0) {
            b.push_back(0);
        }
        return *this;
    }
    gguf_bytes & zeros(size_t n) {
        b.resize(b.size() + n, 0);
        return *this;
    }
};

// The message of the sluice::error that parsing `bytes` throws, or "" if it parses.
inline std::string parse_error(const std::vector<uint8_t> & bytes) {
    try {
        gguf_file::parse(bytes, "bad.gguf");
    } catch (const sluice::error & e) {
        return e.what();
    }
    return "";
}

inline std::string at(uint64_t offset) {
    return "at offset " + std::to_string(offset) + ":";
}

// Expects parsing to fail with a message holding the file name and every part given.
inline void expect_parse_error(const gguf_bytes & g, std::initializer_list<std::string> parts) {
    const std::string msg = parse_error(g.b);
    ASSERT_FALSE(msg.empty()) << "parsed without error";
    EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
    for (const std::string & p : parts) {
        EXPECT_NE(msg.find(p), std::string::npos) << "missing \"" << p << "\" in: " << msg;
    }
}

}  // namespace sluice::test
