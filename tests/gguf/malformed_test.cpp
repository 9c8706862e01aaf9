// One hand-made malformed file per failure class of the header and the metadata: each must
// throw sluice::error naming the file, the field or key, and the byte offset of the problem.
#include "gguf_test_util.h"

namespace sluice {
namespace {

using test::at;
using test::expect_parse_error;
using test::gguf_bytes;

TEST(gguf_malformed, empty_file) {
    gguf_bytes g;
    expect_parse_error(g, {"header magic", at(0), "truncated"});
}

TEST(gguf_malformed, bad_magic) {
    gguf_bytes g;
    g.raw("GGML").u32(3).u64(0).u64(0);
    expect_parse_error(g, {"header magic", at(0), "not a GGUF file"});
}

TEST(gguf_malformed, big_endian_magic) {
    gguf_bytes g;
    g.raw("FUGG").u32(3).u64(0).u64(0);
    expect_parse_error(g, {"magic", at(0), "big-endian"});
}

TEST(gguf_malformed, big_endian_version) {
    gguf_bytes g;
    g.raw("GGUF").u32(0x03000000u).u64(0).u64(0);
    expect_parse_error(g, {"header version", at(4), "big-endian"});
}

TEST(gguf_malformed, version_1) {
    gguf_bytes g;
    g.header(1, 0, 0);
    expect_parse_error(g, {"header version", at(4), "version 1"});
}

TEST(gguf_malformed, version_4) {
    gguf_bytes g;
    g.header(4, 0, 0);
    expect_parse_error(g, {"header version", at(4), "unsupported GGUF version 4"});
}

TEST(gguf_malformed, truncated_header) {
    gguf_bytes g;
    g.raw("GGUF").u32(3).u32(0);  // tensor count cut in half
    expect_parse_error(g, {"header tensor count", at(8), "truncated"});
}

TEST(gguf_malformed, huge_tensor_count) {
    gguf_bytes g;
    g.header(3, uint64_t{1} << 62, 0).zeros(64);
    expect_parse_error(g, {"header tensor count", at(8), "cannot fit"});
}

TEST(gguf_malformed, tensor_count_just_too_big) {
    gguf_bytes g;
    g.header(3, 2, 0).zeros(2 * 33 - 1);
    expect_parse_error(g, {"header tensor count", at(8)});
}

TEST(gguf_malformed, huge_kv_count) {
    gguf_bytes g;
    g.header(3, 0, ~uint64_t{0}).zeros(64);
    expect_parse_error(g, {"header metadata count", at(16), "cannot fit"});
}

TEST(gguf_malformed, counts_fit_alone_but_not_together) {
    gguf_bytes g;
    g.header(3, 2, 4).zeros(2 * 33 + 3 * 14);
    expect_parse_error(g, {"header metadata count", at(16), "together"});
}

TEST(gguf_malformed, key_length_past_end) {
    gguf_bytes g;
    g.header(3, 0, 1).u64(1000).raw("general.name").zeros(8);
    expect_parse_error(g, {"metadata kv 0 key", at(24), "string length 1000"});
}

TEST(gguf_malformed, empty_key) {
    gguf_bytes g;
    g.header(3, 0, 1).str("").type(gguf_value_type::UINT8).u8(1).zeros(8);
    expect_parse_error(g, {"metadata kv 0 key", at(24), "empty key"});
}

TEST(gguf_malformed, truncated_value) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::UINT64).u32(7);
    expect_parse_error(g, {"metadata 'a.b' value", at(24 + 8 + 3 + 4), "truncated"});
}

TEST(gguf_malformed, string_value_past_end) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::STRING).u64(100).raw("short");
    expect_parse_error(g, {"metadata 'a.b' value", at(39), "string length 100 but only 5"});
}

TEST(gguf_malformed, unknown_value_type) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").u32(13).u32(0);
    expect_parse_error(g, {"metadata 'a.b' value type", at(35), "unknown value type 13"});
}

TEST(gguf_malformed, unknown_array_element_type) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY).u32(0xffffffffu).u64(0);
    expect_parse_error(g, {"'a.b' array element type", at(39), "unknown value type 4294967295"});
}

TEST(gguf_malformed, huge_array_count) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY).type(gguf_value_type::UINT32).u64(uint64_t{1} << 62);
    g.zeros(16);
    expect_parse_error(g, {"'a.b' array count", at(43), "cannot fit"});
}

TEST(gguf_malformed, array_count_overflows_byte_size) {
    // count * 8 wraps to a small number: the check must divide, not multiply.
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY).type(gguf_value_type::FLOAT64).u64(uint64_t{1} << 61);
    g.zeros(16);
    expect_parse_error(g, {"'a.b' array count", at(43)});
}

TEST(gguf_malformed, huge_string_array_count) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY).type(gguf_value_type::STRING).u64(1000).zeros(64);
    expect_parse_error(g, {"'a.b' array count", at(43), "cannot fit"});
}

TEST(gguf_malformed, too_many_nested_arrays) {
    // 2^20 + 1 empty nested arrays fit the file (12 bytes each) but pass the per-file cap.
    const uint64_t n = (uint64_t{1} << 20) + 1;
    gguf_bytes     g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY).type(gguf_value_type::ARRAY).u64(n);
    for (uint64_t k = 0; k < n; ++k) {
        g.type(gguf_value_type::UINT8).u64(0);
    }
    expect_parse_error(g, {"'a.b' array count", at(43), "exceed the cap"});
}

TEST(gguf_malformed, truncated_array_string) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY).type(gguf_value_type::STRING).u64(2);
    g.str("one").u64(50).raw("tw");
    expect_parse_error(g, {"'a.b' array string", at(51 + 11), "string length 50"});
}

TEST(gguf_malformed, nested_arrays_too_deep) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY);
    for (int d = 0; d < 8; ++d) {
        g.type(gguf_value_type::ARRAY).u64(1);
    }
    const size_t deepest = g.size();
    g.type(gguf_value_type::UINT8).u64(0);
    expect_parse_error(g, {"'a.b' array element type", at(deepest), "nested more than 8"});
}

TEST(gguf_malformed, nested_arrays_at_the_cap_parse) {
    gguf_bytes g;
    g.header(3, 0, 1).str("a.b").type(gguf_value_type::ARRAY);
    for (int d = 0; d < 7; ++d) {
        g.type(gguf_value_type::ARRAY).u64(1);
    }
    g.type(gguf_value_type::UINT8).u64(2).u8(5).u8(6);
    const gguf_file    f = gguf_file::parse(g.b, "ok.gguf");
    const gguf_value * v = f.find("a.b");
    for (int d = 0; d < 7; ++d) {
        ASSERT_EQ(v->items.size(), 1u);
        v = &v->items[0];
    }
    ASSERT_EQ(v->count, 2u);
    EXPECT_EQ(v->array_i64(1), 6);
}

TEST(gguf_malformed, duplicate_key) {
    gguf_bytes g;
    g.header(3, 0, 2).kv_u32("a.b", 1);
    const size_t second = g.size();
    g.kv_u32("a.b", 2);
    expect_parse_error(g, {"metadata 'a.b' key", at(second), "duplicate key (first at offset 24)"});
}

TEST(gguf_malformed, alignment_zero) {
    gguf_bytes g;
    g.header(3, 0, 1).kv_u32("general.alignment", 0);
    expect_parse_error(g, {"'general.alignment' value", at(24 + 8 + 17 + 4), "not a power of two"});
}

TEST(gguf_malformed, alignment_three) {
    gguf_bytes g;
    g.header(3, 0, 1).kv_u32("general.alignment", 3);
    expect_parse_error(g, {"'general.alignment' value", at(53), "general.alignment 3"});
}

TEST(gguf_malformed, alignment_too_wide) {
    gguf_bytes g;
    g.header(3, 0, 1).str("general.alignment").type(gguf_value_type::UINT64).u64(uint64_t{1} << 40);
    expect_parse_error(g, {"'general.alignment' value", at(53), "32 bits"});
}

TEST(gguf_malformed, alignment_wrong_type) {
    gguf_bytes g;
    g.header(3, 0, 1).str("general.alignment").type(gguf_value_type::INT32).u32(32);
    expect_parse_error(g, {"'general.alignment' value type", at(49), "unsigned integer, not i32"});

    gguf_bytes s;
    s.header(3, 0, 1).str("general.alignment").type(gguf_value_type::STRING).str("32");
    expect_parse_error(s, {"'general.alignment' value type", at(49), "not string"});
}

TEST(gguf_malformed, alignment_any_unsigned_width_accepted) {
    gguf_bytes g;
    g.header(3, 0, 1).str("general.alignment").type(gguf_value_type::UINT8).u8(64);
    EXPECT_EQ(gguf_file::parse(g.b, "ok.gguf").alignment(), 64u);
    gguf_bytes h;
    h.header(3, 0, 1).str("general.alignment").type(gguf_value_type::UINT64).u64(1);
    EXPECT_EQ(gguf_file::parse(h.b, "ok.gguf").alignment(), 1u);
}

TEST(gguf_malformed, keys_are_escaped_in_messages) {
    gguf_bytes g;
    g.header(3, 0, 1).str(std::string("a\nb\x01", 4)).u32(99).zeros(4);
    expect_parse_error(g, {"metadata 'a\\x0ab\\x01' value type", at(36)});
}

TEST(gguf_malformed, typed_accessor_wrong_type) {
    gguf_bytes g;
    g.header(3, 0, 2).str("a.name").type(gguf_value_type::STRING).str("x").kv_u32("a.n", 7);
    const gguf_file f            = gguf_file::parse(g.b, "acc.gguf");
    const auto      expect_throw = [](auto fn, std::initializer_list<std::string> parts) {
        try {
            fn();
            ADD_FAILURE() << "no error";
        } catch (const sluice::error & e) {
            for (const std::string & p : parts) {
                EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
            }
        }
    };
    expect_throw([&] { (void)f.get_u32("a.name"); }, {"acc.gguf", "'a.name'", "type string", "integer"});
    expect_throw([&] { (void)f.get_string("a.n"); }, {"acc.gguf", "'a.n'", "type u32", "expected string"});
    expect_throw([&] { (void)f.get_bool("a.n"); }, {"acc.gguf", "'a.n'", "type u32", "bool"});
    expect_throw([&] { (void)f.get_f64("a.name"); }, {"acc.gguf", "'a.name'", "type string"});
    expect_throw([&] { (void)f.get_array("a.n"); }, {"acc.gguf", "'a.n'", "type u32", "array"});
    expect_throw([&] { (void)f.require_u32("a.missing"); }, {"acc.gguf", "'a.missing'", "missing"});
    expect_throw([&] { (void)f.require_string("a.missing"); }, {"acc.gguf", "'a.missing'", "missing"});
    expect_throw([&] { (void)f.require_tensor("t.missing"); }, {"acc.gguf", "'t.missing'", "missing"});
}

}  // namespace
}  // namespace sluice
