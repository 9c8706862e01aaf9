// Malformed tensor infos and data sections, and truncation of a valid file at every length:
// each must throw sluice::error naming the tensor (or section), the field and the offset.
#include "gguf_test_util.h"

#include <numeric>

namespace sluice {
namespace {

using test::at;
using test::expect_parse_error;
using test::gguf_bytes;

constexpr uint32_t k_f32  = 0;
constexpr uint32_t k_q4_0 = 2;

// Layout of a file with no metadata and one tensor named "w": the info starts at 24, n_dims
// at 33, dims at 37.
gguf_bytes one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data_bytes) {
    gguf_bytes g;
    g.header(3, 1, 0).tensor("w", std::move(dims), type, offset).pad_to(32).zeros(data_bytes);
    return g;
}

TEST(gguf_malformed_tensor, valid_baseline_parses) {
    const gguf_bytes g = one_tensor({4, 2}, k_f32, 0, 32);
    const gguf_file  f = gguf_file::parse(g.b, "ok.gguf");
    ASSERT_EQ(f.tensors().size(), 1u);
    EXPECT_EQ(f.tensors()[0].nbytes, 32u);
    EXPECT_EQ(f.data_offset(), 96u);  // infos end at 24 + 9 + 4 + 16 + 4 + 8 = 65
}

TEST(gguf_malformed_tensor, n_dims_zero) {
    expect_parse_error(one_tensor({}, k_f32, 0, 32), {"tensor 'w' n_dims", at(33), "0 dimensions"});
}

TEST(gguf_malformed_tensor, n_dims_five) {
    expect_parse_error(one_tensor({1, 1, 1, 1, 1}, k_f32, 0, 32), {"tensor 'w' n_dims", at(33), "5 dimensions"});
}

TEST(gguf_malformed_tensor, negative_dim) {
    expect_parse_error(one_tensor({4, ~uint64_t{0}}, k_f32, 0, 32),
                       {"tensor 'w' dim 1", at(45), "negative dimension -1"});
}

TEST(gguf_malformed_tensor, overflowing_dims) {
    const uint64_t big = uint64_t{1} << 32;
    expect_parse_error(one_tensor({big, big, 4}, k_f32, 0, 32), {"tensor 'w' dims", at(37), "overflows"});
}

TEST(gguf_malformed_tensor, overflowing_rows_behind_a_zero_dim) {
    // ne[0] = 0 makes n_elements 0, but n_rows() would still overflow.
    const uint64_t big = uint64_t{1} << 32;
    expect_parse_error(one_tensor({0, big, big}, k_f32, 0, 32), {"tensor 'w' dims", at(37), "overflows"});
}

TEST(gguf_malformed_tensor, overflowing_byte_size) {
    // 2^62 f32 elements fit int64 but not 2^64 bytes.
    expect_parse_error(one_tensor({uint64_t{1} << 62}, k_f32, 0, 32), {"tensor 'w' dims", at(37), "byte size"});
}

TEST(gguf_malformed_tensor, ne0_not_multiple_of_block) {
    expect_parse_error(one_tensor({33, 2}, k_q4_0, 0, 64), {"tensor 'w' dim 0", at(37), "block size 32 of type q4_0"});
}

TEST(gguf_malformed_tensor, unknown_type_id) {
    expect_parse_error(one_tensor({4}, 4, 0, 32), {"tensor 'w' type", at(45), "unknown ggml type id 4"});
    expect_parse_error(one_tensor({4}, 1000, 0, 32), {"tensor 'w' type", at(45), "unknown ggml type id 1000"});
}

TEST(gguf_malformed_tensor, empty_name) {
    gguf_bytes g;
    g.header(3, 1, 0).tensor("", {4}, k_f32, 0).pad_to(32).zeros(16);
    expect_parse_error(g, {"tensor info 0 name", at(24), "empty tensor name"});
}

TEST(gguf_malformed_tensor, name_past_end) {
    gguf_bytes g;
    g.header(3, 1, 0).u64(1 << 20).raw("w").zeros(40);
    expect_parse_error(g, {"tensor info 0 name", at(24), "string length 1048576"});
}

TEST(gguf_malformed_tensor, duplicate_names) {
    gguf_bytes g;
    g.header(3, 2, 0).tensor("w", {8}, k_f32, 0);
    const size_t second = g.size();
    g.tensor("w", {8}, k_f32, 32).pad_to(32).zeros(64);
    expect_parse_error(g, {"tensor 'w' name", at(second), "duplicate tensor name (first at offset 24)"});
}

TEST(gguf_malformed_tensor, misaligned_offset) {
    expect_parse_error(one_tensor({4}, k_f32, 4, 32),
                       {"tensor 'w' offset", at(49), "not a multiple of the alignment 32"});
}

TEST(gguf_malformed_tensor, misaligned_offset_custom_alignment) {
    gguf_bytes g;
    g.header(3, 1, 1).kv_u32("general.alignment", 64);
    const size_t info = g.size();
    g.tensor("w", {4}, k_f32, 32).pad_to(64).zeros(128);
    expect_parse_error(g, {"tensor 'w' offset", at(info + 25), "alignment 64"});
}

TEST(gguf_malformed_tensor, offset_past_end) {
    expect_parse_error(one_tensor({4}, k_f32, 1024, 32), {"tensor 'w' offset", at(49), "past the end"});
}

TEST(gguf_malformed_tensor, huge_offset_does_not_wrap) {
    // offset + nbytes wraps to a small value: the check must subtract, not add.
    const uint64_t off = ~uint64_t{0} - 31;  // multiple of 32
    expect_parse_error(one_tensor({4}, k_f32, off, 32), {"tensor 'w' offset", at(49), "past the end"});
}

TEST(gguf_malformed_tensor, data_overlaps_the_end) {
    // 4 x 8 f32 = 128 bytes at offset 0, but only 96 bytes of data section.
    expect_parse_error(one_tensor({4, 8}, k_f32, 0, 96),
                       {"data section, tensor 'w' data", at(96), "truncated: 128 bytes of data but only 96 left"});
}

TEST(gguf_malformed_tensor, truncated_tensor_info) {
    gguf_bytes g;
    // 33 bytes after the header pass the count check; a 2-d info needs 41, so the file ends
    // where the offset field starts.
    g.header(3, 1, 0).str("w").u32(2).u64(4).u64(4).u32(0);
    expect_parse_error(g, {"tensor 'w' offset", at(57), "truncated"});
}

TEST(gguf_malformed_tensor, truncated_padding) {
    gguf_bytes g;
    g.header(3, 1, 0).tensor("w", {0}, k_f32, 0);  // infos end at 57, data would start at 64
    expect_parse_error(g, {"padding", at(57), "truncated"});
}

TEST(gguf_malformed_tensor, no_tensors_no_padding_is_fine) {
    // llama.cpp reads vocab-only files whose last key ends the file.
    gguf_bytes g;
    g.header(3, 0, 1).kv_u32("a.b", 1);
    const gguf_file f = gguf_file::parse(g.b, "vocab.gguf");
    EXPECT_EQ(f.data_offset(), g.size());
    EXPECT_EQ(*f.get_u32("a.b"), 1u);
}

TEST(gguf_malformed_tensor, zero_sized_tensor_parses) {
    const gguf_bytes g = one_tensor({0, 3}, k_f32, 0, 0);
    const gguf_file  f = gguf_file::parse(g.b, "ok.gguf");
    EXPECT_EQ(f.tensors()[0].nbytes, 0u);
    EXPECT_EQ(f.tensors()[0].n_elements(), 0);
}

// A small valid file with every section: metadata (scalar, string, string array, nested
// array), two tensors, padding and data.
std::vector<uint8_t> small_valid_file(std::vector<uint8_t> & data_storage) {
    data_storage.resize(4 * 3 * 4 + 64 * 18 / 32);
    std::iota(data_storage.begin(), data_storage.end(), uint8_t{1});
    gguf_value nested;
    nested.type      = gguf_value_type::ARRAY;
    nested.elem_type = gguf_value_type::ARRAY;
    nested.count     = 1;
    gguf_value inner;
    inner.type      = gguf_value_type::ARRAY;
    inner.elem_type = gguf_value_type::STRING;
    inner.count     = 2;
    inner.strings   = {"x", "yz"};
    nested.items.push_back(inner);
    gguf_writer w;
    w.set_string("general.architecture", "tiny")
        .set_u32("tiny.block_count", 2)
        .set_array_strings("tokenizer.ggml.tokens", {"a", "bc", "def"})
        .set_array_f32("tokenizer.ggml.scores", {0.5f, -1.0f, 2.0f})
        .set_value("x.nested", nested)
        .add_tensor("a", ggml_type::F32, {4, 3}, data_storage.data(), 48)
        .add_tensor("b", ggml_type::Q4_0, {64}, data_storage.data() + 48, 36);
    return w.to_bytes();
}

TEST(gguf_malformed_tensor, truncated_at_every_length) {
    std::vector<uint8_t>       storage;
    const std::vector<uint8_t> full     = small_valid_file(storage);
    const gguf_file            f        = gguf_file::parse(full, "full.gguf");
    const gguf_tensor &        last     = f.tensors().back();
    const uint64_t             need     = f.data_offset() + last.offset + last.nbytes;  // trailing padding is optional
    const uint64_t             infos_at = f.tensors().front().info_offset;
    for (size_t n = 0; n < need; ++n) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        const std::string          msg = test::parse_error(cut);
        ASSERT_FALSE(msg.empty()) << "prefix of " << n << " bytes parsed";
        EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
        EXPECT_NE(msg.find("at offset "), std::string::npos) << msg;
        const char * section = n < 24                ? "header"
                               : n < infos_at        ? "metadata"
                               : n < f.data_offset() ? "tensor"
                                                     : "data section";
        if (n >= infos_at && n < f.data_offset() && msg.find("padding") != std::string::npos) {
            section = "padding";
        }
        // Many cuts are caught early by a count check (in the header or at an array count);
        // the others name the section they cut.
        if (msg.find("cannot fit") != std::string::npos) {
            EXPECT_TRUE(msg.find("header") != std::string::npos || msg.find(section) != std::string::npos) << msg;
            continue;
        }
        EXPECT_NE(msg.find(section), std::string::npos) << n << ": " << msg;
        EXPECT_NE(msg.find("truncated"), std::string::npos) << n << ": " << msg;
    }
    for (size_t n = need; n <= full.size(); ++n) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_EQ(test::parse_error(cut), "") << n;
    }
}

TEST(gguf_malformed_tensor, every_single_byte_corruption_is_clean) {
    // Not every corruption is detectable (data bytes, string contents), but none may crash
    // or throw anything other than sluice::error.
    std::vector<uint8_t>       storage;
    const std::vector<uint8_t> full = small_valid_file(storage);
    for (size_t k = 0; k < full.size(); ++k) {
        for (uint8_t v : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
            std::vector<uint8_t> bad = full;
            bad[k]                   = v;
            EXPECT_NO_THROW((void)test::parse_error(bad)) << k;
        }
    }
}

}  // namespace
}  // namespace sluice
