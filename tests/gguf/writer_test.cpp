// Writer round trips: every value type and array element type, nested arrays, tensors of
// several types and shapes, custom alignment; write -> parse -> compare every field and byte.
#include "gguf_test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>

namespace sluice {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937         rng(seed);
    std::vector<uint8_t> out(n);
    for (auto & b : out) {
        b = static_cast<uint8_t>(rng());
    }
    return out;
}

TEST(gguf_writer, scalars_round_trip) {
    gguf_writer w;
    w.set_u8("v.u8", 250)
        .set_i8("v.i8", -100)
        .set_u16("v.u16", 65000)
        .set_i16("v.i16", -32000)
        .set_u32("v.u32", 4000000000u)
        .set_i32("v.i32", -2000000000)
        .set_u64("v.u64", std::numeric_limits<uint64_t>::max())
        .set_i64("v.i64", std::numeric_limits<int64_t>::min())
        .set_f32("v.f32", 1.5f)
        .set_f64("v.f64", -0.1)
        .set_bool("v.true", true)
        .set_bool("v.false", false)
        .set_string("v.str", "hello, gguf")
        .set_string("v.empty", "");
    const std::vector<uint8_t> bytes = w.to_bytes();
    const gguf_file            f     = gguf_file::parse(bytes, "rt.gguf");
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.tensors().size(), 0u);
    ASSERT_EQ(f.metadata().size(), 14u);
    EXPECT_EQ(f.metadata()[0].key, "v.u8");
    EXPECT_EQ(f.metadata()[0].offset, 24u);
    EXPECT_EQ(f.metadata()[13].key, "v.empty");

    EXPECT_EQ(f.find("v.u8")->type, gguf_value_type::UINT8);
    EXPECT_EQ(*f.get_u32("v.u8"), 250u);
    EXPECT_EQ(*f.get_i64("v.i8"), -100);
    EXPECT_EQ(f.find("v.i8")->type, gguf_value_type::INT8);
    EXPECT_EQ(*f.get_u32("v.u16"), 65000u);
    EXPECT_EQ(*f.get_i64("v.i16"), -32000);
    EXPECT_EQ(*f.get_u32("v.u32"), 4000000000u);
    EXPECT_EQ(*f.get_i64("v.i32"), -2000000000);
    EXPECT_EQ(*f.get_u64("v.u64"), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(*f.get_i64("v.i64"), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(*f.get_f32("v.f32"), 1.5f);
    EXPECT_EQ(*f.get_f64("v.f64"), -0.1);
    EXPECT_EQ(f.find("v.f64")->type, gguf_value_type::FLOAT64);
    EXPECT_TRUE(*f.get_bool("v.true"));
    EXPECT_FALSE(*f.get_bool("v.false"));
    EXPECT_EQ(*f.get_string("v.str"), "hello, gguf");
    EXPECT_EQ(*f.get_string("v.empty"), "");
    EXPECT_FALSE(f.get_u32("v.absent").has_value());
    EXPECT_EQ(f.get_array("v.absent"), nullptr);
}

// Every scalar element type, with values at the edges of each type.
TEST(gguf_writer, numeric_arrays_of_every_element_type) {
    const std::vector<uint8_t>  u8{0, 1, 255};
    const std::vector<int8_t>   i8{-128, 0, 127};
    const std::vector<uint16_t> u16{0, 65535};
    const std::vector<int16_t>  i16{-32768, 32767};
    const std::vector<uint32_t> u32{0, 4294967295u};
    const std::vector<int32_t>  i32{-7, 2147483647};
    const std::vector<uint64_t> u64{1, uint64_t{1} << 60};
    const std::vector<int64_t>  i64{std::numeric_limits<int64_t>::min(), 5};
    const std::vector<float>    f32{0.25f, -3.0f, 1e30f};
    const std::vector<double>   f64{1e-300, -2.5};
    const std::vector<uint8_t>  bools{1, 0, 1};
    const std::vector<uint32_t> empty;

    gguf_writer w;
    w.set_array_raw("a.u8", gguf_value_type::UINT8, u8.data(), u8.size())
        .set_array_raw("a.i8", gguf_value_type::INT8, i8.data(), i8.size())
        .set_array_raw("a.u16", gguf_value_type::UINT16, u16.data(), u16.size())
        .set_array_raw("a.i16", gguf_value_type::INT16, i16.data(), i16.size())
        .set_array_raw("a.u32", gguf_value_type::UINT32, u32.data(), u32.size())
        .set_array_i32("a.i32", i32)
        .set_array_raw("a.u64", gguf_value_type::UINT64, u64.data(), u64.size())
        .set_array_raw("a.i64", gguf_value_type::INT64, i64.data(), i64.size())
        .set_array_f32("a.f32", f32)
        .set_array_raw("a.f64", gguf_value_type::FLOAT64, f64.data(), f64.size())
        .set_array_raw("a.bool", gguf_value_type::BOOL, bools.data(), bools.size())
        .set_array_raw("a.empty", gguf_value_type::UINT32, empty.data(), 0);
    const std::vector<uint8_t> bytes = w.to_bytes();
    const gguf_file            f     = gguf_file::parse(bytes, "arr.gguf");

    const auto check_i = [&](const char * key, gguf_value_type t, const auto & want) {
        const gguf_value * v = f.get_array(key);
        ASSERT_NE(v, nullptr) << key;
        EXPECT_EQ(v->elem_type, t) << key;
        ASSERT_EQ(v->count, want.size()) << key;
        if (!want.empty()) {
            EXPECT_EQ(std::memcmp(v->raw, want.data(), want.size() * sizeof(want[0])), 0) << key;
        }
        for (size_t k = 0; k < want.size(); ++k) {
            EXPECT_EQ(v->array_i64(k), static_cast<int64_t>(want[k])) << key << "[" << k << "]";
            EXPECT_EQ(v->array_f64(k), static_cast<double>(want[k])) << key << "[" << k << "]";
        }
    };
    check_i("a.u8", gguf_value_type::UINT8, u8);
    check_i("a.i8", gguf_value_type::INT8, i8);
    check_i("a.u16", gguf_value_type::UINT16, u16);
    check_i("a.i16", gguf_value_type::INT16, i16);
    check_i("a.u32", gguf_value_type::UINT32, u32);
    check_i("a.i32", gguf_value_type::INT32, i32);
    check_i("a.u64", gguf_value_type::UINT64, u64);
    check_i("a.i64", gguf_value_type::INT64, i64);
    check_i("a.bool", gguf_value_type::BOOL, bools);
    check_i("a.empty", gguf_value_type::UINT32, empty);

    const gguf_value * vf = f.get_array("a.f32");
    ASSERT_EQ(vf->count, 3u);
    for (size_t k = 0; k < f32.size(); ++k) {
        EXPECT_EQ(vf->array_f64(k), static_cast<double>(f32[k]));
    }
    EXPECT_EQ(vf->array_i64(1), -3);
    EXPECT_THROW((void)vf->array_i64(2), sluice::error);  // 1e30 does not fit i64
    const gguf_value * vd = f.get_array("a.f64");
    EXPECT_EQ(vd->array_f64(0), 1e-300);
    EXPECT_EQ(vd->array_f64(1), -2.5);
    EXPECT_THROW((void)vd->array_f64(2), sluice::error);  // out of range
}

TEST(gguf_writer, string_and_nested_arrays) {
    gguf_value leaf_u16;
    leaf_u16.type      = gguf_value_type::ARRAY;
    leaf_u16.elem_type = gguf_value_type::UINT16;
    const std::vector<uint16_t> nums{7, 8, 9};
    leaf_u16.count = nums.size();
    leaf_u16.raw   = reinterpret_cast<const uint8_t *>(nums.data());

    gguf_value leaf_str;
    leaf_str.type      = gguf_value_type::ARRAY;
    leaf_str.elem_type = gguf_value_type::STRING;
    leaf_str.count     = 2;
    leaf_str.strings   = {"p", ""};

    gguf_value mid;  // array of 2 arrays
    mid.type      = gguf_value_type::ARRAY;
    mid.elem_type = gguf_value_type::ARRAY;
    mid.count     = 2;
    mid.items     = {leaf_u16, leaf_str};

    gguf_value top;  // array of arrays of arrays
    top.type      = gguf_value_type::ARRAY;
    top.elem_type = gguf_value_type::ARRAY;
    top.count     = 1;
    top.items     = {mid};

    gguf_writer w;
    w.set_array_strings("s.tokens", {"<unk>", "", "\xe2\x96\x81the", std::string("nul\0in", 6)})
        .set_value("n.top", top);
    const std::vector<uint8_t> bytes = w.to_bytes();
    const gguf_file            f     = gguf_file::parse(bytes, "nest.gguf");

    const gguf_value * s = f.get_array("s.tokens");
    ASSERT_EQ(s->elem_type, gguf_value_type::STRING);
    ASSERT_EQ(s->strings.size(), 4u);
    EXPECT_EQ(s->strings[2], "\xe2\x96\x81the");
    EXPECT_EQ(s->strings[3], std::string_view("nul\0in", 6));
    EXPECT_THROW((void)s->array_i64(0), sluice::error);

    const gguf_value * t = f.get_array("n.top");
    ASSERT_EQ(t->elem_type, gguf_value_type::ARRAY);
    ASSERT_EQ(t->items.size(), 1u);
    const gguf_value & m = t->items[0];
    ASSERT_EQ(m.items.size(), 2u);
    EXPECT_EQ(m.items[0].elem_type, gguf_value_type::UINT16);
    ASSERT_EQ(m.items[0].count, 3u);
    EXPECT_EQ(m.items[0].array_i64(2), 9);
    EXPECT_EQ(m.items[1].strings, leaf_str.strings);

    // set_value copies a parsed value exactly: re-encoding gives the same bytes.
    gguf_writer copy;
    for (const gguf_kv & kv : f.metadata()) {
        copy.set_value(std::string(kv.key), kv.value);
    }
    EXPECT_EQ(copy.to_bytes(), bytes);
}

struct tensor_case {
    const char *         name;
    ggml_type            type;
    std::vector<int64_t> dims;
};

void round_trip_tensors(uint32_t alignment) {
    const std::vector<tensor_case> cases = {
        {"f32.vec", ggml_type::F32, {5}},       {"f16.mat", ggml_type::F16, {8, 3}},
        {"q4_0.mat", ggml_type::Q4_0, {64, 3}}, {"q4_K.exps", ggml_type::Q4_K, {256, 2, 3}},
        {"i8.4d", ggml_type::I8, {3, 1, 2, 2}}, {"q8_0.empty", ggml_type::Q8_0, {0, 4}},
        {"mxfp4.row", ggml_type::MXFP4, {32}},
    };
    std::vector<std::vector<uint8_t>> data;
    gguf_writer                       w;
    if (alignment != 32) {
        w.set_alignment(alignment);
    }
    w.set_string("general.architecture", "rt");
    for (size_t k = 0; k < cases.size(); ++k) {
        const tensor_case & c = cases[k];
        int64_t             n = 1;
        for (int64_t d : c.dims) {
            n *= d;
        }
        data.push_back(random_bytes(row_bytes(c.type, n), static_cast<uint32_t>(k)));
        w.add_tensor(c.name, c.type, c.dims, data.back().data(), data.back().size());
    }
    const std::vector<uint8_t> bytes = w.to_bytes();
    const gguf_file            f     = gguf_file::parse(bytes, "t.gguf");
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    EXPECT_EQ(f.architecture(), "rt");
    EXPECT_EQ(f.find("general.alignment") != nullptr, alignment != 32);
    ASSERT_EQ(f.tensors().size(), cases.size());
    for (size_t k = 0; k < cases.size(); ++k) {
        const tensor_case & c = cases[k];
        const gguf_tensor & t = f.require_tensor(c.name);
        EXPECT_EQ(&t, &f.tensors()[k]);
        EXPECT_EQ(t.name, c.name);
        EXPECT_EQ(t.type, c.type);
        ASSERT_EQ(t.n_dims, static_cast<int>(c.dims.size()));
        for (int d = 0; d < 4; ++d) {
            EXPECT_EQ(t.ne[d], d < t.n_dims ? c.dims[d] : 1) << c.name;
        }
        EXPECT_EQ(t.offset % alignment, 0u);
        EXPECT_EQ(t.nbytes, data[k].size());
        EXPECT_EQ(t.nbytes, t.row_bytes() * static_cast<uint64_t>(t.n_rows()));
        EXPECT_EQ(t.data, bytes.data() + f.data_offset() + t.offset);
        if (t.nbytes > 0) {
            EXPECT_EQ(std::memcmp(t.data, data[k].data(), data[k].size()), 0) << c.name;
        }
    }
    EXPECT_EQ(f.find_tensor("nope"), nullptr);
}

TEST(gguf_writer, tensors_round_trip_default_alignment) {
    round_trip_tensors(32);
}
TEST(gguf_writer, tensors_round_trip_alignment_64) {
    round_trip_tensors(64);
}
TEST(gguf_writer, tensors_round_trip_alignment_1) {
    round_trip_tensors(1);
}
TEST(gguf_writer, tensors_round_trip_alignment_4096) {
    round_trip_tensors(4096);
}

TEST(gguf_writer, alignment_key_and_layout_agree) {
    gguf_writer w;
    w.set_u8("general.alignment", 16);  // any unsigned width sets the layout too
    std::vector<uint8_t> d(4 * 3);
    w.add_tensor("a", ggml_type::F32, {3}, d.data(), 12).add_tensor("b", ggml_type::F32, {3}, d.data(), 12);
    const auto      bytes = w.to_bytes();
    const gguf_file f     = gguf_file::parse(bytes, "a.gguf");
    EXPECT_EQ(f.alignment(), 16u);
    EXPECT_EQ(f.tensors()[1].offset, 16u);
    w.set_alignment(128);  // rewrites the existing key in place
    const auto      again = w.to_bytes();
    const gguf_file g     = gguf_file::parse(again, "b.gguf");
    EXPECT_EQ(g.alignment(), 128u);
    EXPECT_EQ(g.metadata().size(), 1u);
    EXPECT_EQ(g.find("general.alignment")->type, gguf_value_type::UINT32);
}

TEST(gguf_writer, rejects_bad_inputs) {
    std::vector<uint8_t> d(1024);
    gguf_writer          w;
    w.set_u32("k", 1);
    EXPECT_THROW(w.set_u32("k", 2), sluice::error);
    EXPECT_THROW(w.set_string("", "x"), sluice::error);
    EXPECT_THROW(w.set_alignment(0), sluice::error);
    EXPECT_THROW(w.set_alignment(3), sluice::error);
    EXPECT_THROW(w.set_u32("general.alignment", 24), sluice::error);
    EXPECT_THROW(w.set_i32("general.alignment", 32), sluice::error);
    EXPECT_THROW(w.set_string("general.alignment", "32"), sluice::error);
    EXPECT_THROW(w.set_array_raw("a", gguf_value_type::STRING, d.data(), 1), sluice::error);
    EXPECT_THROW(w.set_array_raw("a", gguf_value_type::UINT32, nullptr, 1), sluice::error);
    EXPECT_THROW(w.set_array_raw("a", static_cast<gguf_value_type>(77), d.data(), 1), sluice::error);

    w.add_tensor("t", ggml_type::F32, {4}, d.data(), 16);
    EXPECT_THROW(w.add_tensor("t", ggml_type::F32, {4}, d.data(), 16), sluice::error);             // duplicate
    EXPECT_THROW(w.add_tensor("", ggml_type::F32, {4}, d.data(), 16), sluice::error);              // empty name
    EXPECT_THROW(w.add_tensor("u", ggml_type::F32, {4}, d.data(), 15), sluice::error);             // wrong nbytes
    EXPECT_THROW(w.add_tensor("u", ggml_type::F32, {}, d.data(), 4), sluice::error);               // 0 dims
    EXPECT_THROW(w.add_tensor("u", ggml_type::F32, {1, 1, 1, 1, 1}, d.data(), 4), sluice::error);  // 5 dims
    EXPECT_THROW(w.add_tensor("u", ggml_type::Q4_0, {33}, d.data(), 18), sluice::error);  // not a block multiple
    EXPECT_THROW(w.add_tensor("u", ggml_type::F32, {-4}, d.data(), 16), sluice::error);   // negative
    EXPECT_THROW(w.add_tensor("u", static_cast<ggml_type>(4), {4}, d.data(), 16), sluice::error);  // unknown type
    EXPECT_THROW(w.add_tensor("u", ggml_type::F32, {int64_t{1} << 40, int64_t{1} << 40}, d.data(), 16), sluice::error);
    EXPECT_THROW(w.add_tensor("u", ggml_type::F32, {4}, nullptr, 16), sluice::error);
    try {
        w.add_tensor("wrong", ggml_type::Q8_0, {64}, d.data(), 64);
        ADD_FAILURE();
    } catch (const sluice::error & e) {
        EXPECT_NE(std::string(e.what()).find("'wrong'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("68"), std::string::npos) << e.what();
    }
    // Nothing invalid was kept: the file still parses.
    const auto bytes = w.to_bytes();
    EXPECT_NO_THROW(gguf_file::parse(bytes, "ok.gguf"));
}

TEST(gguf_writer, write_file_and_open) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("sluice_gguf_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string          path = (dir / "w.gguf").string();
    const std::vector<uint8_t> d    = random_bytes(512 * 2, 9);
    gguf_writer                w;
    w.set_string("general.architecture", "file").add_tensor("x", ggml_type::F16, {256, 2}, d.data(), d.size());
    w.write(path);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    {
        gguf_file f = gguf_file::open(path);
        EXPECT_EQ(f.path(), path);
        EXPECT_EQ(f.architecture(), "file");
        const std::vector<uint8_t> mem = w.to_bytes();
        ASSERT_EQ(f.file_size(), mem.size());
        EXPECT_TRUE(std::equal(mem.begin(), mem.end(), f.bytes().begin()));
        const gguf_file moved = std::move(f);  // views survive the move
        EXPECT_EQ(std::memcmp(moved.require_tensor("x").data, d.data(), d.size()), 0);
    }
    try {
        w.write((dir / "missing" / "w.gguf").string());
        ADD_FAILURE();
    } catch (const sluice::error & e) {
        EXPECT_NE(std::string(e.what()).find("missing/w.gguf"), std::string::npos) << e.what();
    }
    try {
        (void)gguf_file::open((dir / "absent.gguf").string());
        ADD_FAILURE();
    } catch (const sluice::error & e) {
        EXPECT_NE(std::string(e.what()).find("absent.gguf"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
}

// Streaming (issue 16 item 15): tensors declared with add_tensor_info and produced one at a
// time while the file is written give the same bytes as the in-memory writer, for mixed
// declared/given tensors and any alignment; the producer is called once per declared tensor,
// in order; a wrong size or a failing producer leaves no file behind.
TEST(gguf_writer, streamed_file_equals_the_in_memory_file) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("sluice_gguf_stream_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::vector<tensor_case> cases = {
        {"f32.vec", ggml_type::F32, {5}},       {"f16.mat", ggml_type::F16, {8, 3}},
        {"q4_0.mat", ggml_type::Q4_0, {64, 3}}, {"q4_K.exps", ggml_type::Q4_K, {256, 2, 3}},
        {"i8.4d", ggml_type::I8, {3, 1, 2, 2}}, {"q8_0.empty", ggml_type::Q8_0, {0, 4}},
        {"mxfp4.row", ggml_type::MXFP4, {32}},
    };
    for (uint32_t alignment : {1u, 32u, 64u, 4096u}) {
        std::vector<std::vector<uint8_t>> data;
        gguf_writer                       mem, streamed;
        for (gguf_writer * w : {&mem, &streamed}) {
            w->set_string("general.architecture", "stream").set_u32("n", 7);
            if (alignment != 32) {
                w->set_alignment(alignment);
            }
        }
        for (size_t k = 0; k < cases.size(); ++k) {
            const tensor_case & c = cases[k];
            int64_t             n = 1;
            for (int64_t d : c.dims) {
                n *= d;
            }
            data.push_back(random_bytes(row_bytes(c.type, n), static_cast<uint32_t>(k + 100)));
            mem.add_tensor(c.name, c.type, c.dims, data.back().data(), data.back().size());
            if (k % 3 == 1) {  // some given up front, the rest produced while writing
                streamed.add_tensor(c.name, c.type, c.dims, data.back().data(), data.back().size());
            } else {
                streamed.add_tensor_info(c.name, c.type, c.dims);
            }
        }
        const std::string    path = (dir / ("s" + std::to_string(alignment) + ".gguf")).string();
        std::vector<size_t>  asked;
        std::vector<uint8_t> scratch;
        streamed.write(path, [&](size_t i) -> std::span<const uint8_t> {
            asked.push_back(i);
            scratch = data[i];  // a buffer reused from call to call, as synth and quantize do
            return scratch;
        });
        EXPECT_EQ(asked, (std::vector<size_t>{0, 2, 3, 5, 6})) << alignment;
        const std::vector<uint8_t> want = mem.to_bytes();
        const gguf_file            f    = gguf_file::open(path);
        ASSERT_EQ(f.file_size(), want.size()) << alignment;
        EXPECT_TRUE(std::equal(want.begin(), want.end(), f.bytes().begin())) << alignment;
        // Without a producer, declared tensors cannot be written.
        EXPECT_THROW(streamed.write(path + ".x"), sluice::error);
        EXPECT_THROW((void)streamed.to_bytes(), sluice::error);
    }

    gguf_writer w;
    w.add_tensor_info("t", ggml_type::F32, {4});
    EXPECT_THROW(w.add_tensor_info("t", ggml_type::F32, {4}), sluice::error);    // duplicate
    EXPECT_THROW(w.add_tensor_info("u", ggml_type::Q4_0, {33}), sluice::error);  // not a block multiple
    EXPECT_THROW(w.add_tensor_info("u", ggml_type::F32, {int64_t{1} << 40, int64_t{1} << 40}), sluice::error);
    const std::string          bad = (dir / "bad.gguf").string();
    const std::vector<uint8_t> three(12);
    EXPECT_THROW(w.write(bad, [&](size_t) { return std::span<const uint8_t>(three); }), sluice::error);  // 12 != 16
    EXPECT_THROW(w.write(bad, [&](size_t) -> std::span<const uint8_t> { fail("producer failed"); }), sluice::error);
    EXPECT_FALSE(std::filesystem::exists(bad));
    EXPECT_FALSE(std::filesystem::exists(bad + ".tmp"));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
