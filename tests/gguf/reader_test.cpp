// Reader behaviour on valid files: version 2, typed accessors and their conversions, lookups,
// kv offsets.
#include "gguf_test_util.h"

#include <limits>

namespace sluice {
namespace {

using test::gguf_bytes;

TEST(gguf_reader, version_2_is_read) {
    gguf_writer w;
    w.set_u32("a.b", 5);
    std::vector<uint8_t> bytes = w.to_bytes();
    bytes[4]                   = 2;  // v2 and v3 share the layout (u64 counts and lengths)
    const gguf_file f          = gguf_file::parse(bytes, "v2.gguf");
    EXPECT_EQ(f.version(), 2u);
    EXPECT_EQ(*f.get_u32("a.b"), 5u);
}

TEST(gguf_reader, integer_conversions) {
    gguf_writer w;
    w.set_u8("u8", 7)
        .set_i8("neg", -1)
        .set_i32("pos", 12)
        .set_u64("big", uint64_t{1} << 40)
        .set_u64("huge", std::numeric_limits<uint64_t>::max())
        .set_f32("f", 0.5f)
        .set_bool("b", true);
    const auto      bytes = w.to_bytes();
    const gguf_file f     = gguf_file::parse(bytes, "conv.gguf");

    EXPECT_EQ(*f.get_u32("u8"), 7u);
    EXPECT_EQ(*f.get_u64("u8"), 7u);
    EXPECT_EQ(*f.get_i64("u8"), 7);
    EXPECT_EQ(*f.get_f64("u8"), 7.0);
    EXPECT_EQ(*f.get_u32("pos"), 12u);  // a non-negative signed value converts
    EXPECT_EQ(*f.get_i64("neg"), -1);
    EXPECT_EQ(*f.get_f64("neg"), -1.0);
    EXPECT_THROW((void)f.get_u64("neg"), sluice::error);
    EXPECT_THROW((void)f.get_u32("neg"), sluice::error);
    EXPECT_EQ(*f.get_u64("big"), uint64_t{1} << 40);
    EXPECT_EQ(*f.get_i64("big"), int64_t{1} << 40);
    EXPECT_THROW((void)f.get_u32("big"), sluice::error);
    EXPECT_THROW((void)f.get_i64("huge"), sluice::error);
    EXPECT_EQ(*f.get_f64("f"), 0.5);
    EXPECT_EQ(*f.get_f32("f"), 0.5f);
    EXPECT_THROW((void)f.get_u32("f"), sluice::error);  // floats do not silently truncate
    EXPECT_THROW((void)f.get_u32("b"), sluice::error);  // bool is not an integer
    EXPECT_TRUE(f.find("u8")->is_integer());
    EXPECT_FALSE(f.find("b")->is_integer());
    EXPECT_TRUE(f.find("f")->is_float());
    try {
        (void)f.get_u32("big");
        ADD_FAILURE();
    } catch (const sluice::error & e) {
        EXPECT_NE(std::string(e.what()).find("conv.gguf: metadata 'big' = 1099511627776 does not fit u32"),
                  std::string::npos)
            << e.what();
    }
}

TEST(gguf_reader, bool_reads_nonzero_as_true) {
    gguf_bytes g;
    g.header(3, 0, 1).str("b").type(gguf_value_type::BOOL).u8(2);
    EXPECT_TRUE(*gguf_file::parse(g.b, "b.gguf").get_bool("b"));
}

TEST(gguf_reader, kv_offsets_and_order) {
    gguf_bytes g;
    g.header(3, 0, 3).kv_u32("z", 1).kv_u32("a", 2).kv_u32("m", 3);
    const gguf_file f = gguf_file::parse(g.b, "o.gguf");
    ASSERT_EQ(f.metadata().size(), 3u);
    EXPECT_EQ(f.metadata()[0].key, "z");
    EXPECT_EQ(f.metadata()[1].key, "a");
    EXPECT_EQ(f.metadata()[1].offset, 24u + 8 + 1 + 4 + 4);
    EXPECT_EQ(f.metadata()[2].offset, 24u + 2 * 17);
    EXPECT_EQ(f.architecture(), "");
}

TEST(gguf_reader, accessors_on_arrays) {
    gguf_writer w;
    w.set_array_i32("a", {1, -2, 3});
    const auto         bytes = w.to_bytes();
    const gguf_file    f     = gguf_file::parse(bytes, "arr.gguf");
    const gguf_value * a     = f.get_array("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->array_i64(1), -2);
    EXPECT_THROW((void)a->array_i64(3), sluice::error);  // past the end
    EXPECT_THROW((void)f.get_u32("a"), sluice::error);
    EXPECT_THROW((void)f.get_string("a"), sluice::error);
}

}  // namespace
}  // namespace sluice
