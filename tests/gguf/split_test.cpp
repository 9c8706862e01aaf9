// Split models (llama.cpp's gguf-split layout): write_split cuts by size as gguf-split does,
// open(first part) joins every part with each tensor's bytes where its part has them, and a
// set that does not belong together is an error naming the file at fault.
#include "gguf_test_util.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sluice {
namespace {

namespace fs = std::filesystem;

// Five F32 tensors of 100 elements (400 bytes, 416 with padding): parts of at most 1000
// bytes hold two, two and one.
struct small_model {
    std::vector<std::vector<float>> data;
    gguf_writer                     w;

    explicit small_model(float base = 0.0f) {
        w.set_string("general.architecture", "toy").set_u32("toy.block_count", 5);
        for (int t = 0; t < 5; ++t) {
            auto & d = data.emplace_back(100);
            for (int i = 0; i < 100; ++i) {
                d[i] = base + static_cast<float>(t * 1000 + i);
            }
        }
        for (int t = 0; t < 5; ++t) {
            w.add_tensor(fmt::format("t{}", t), ggml_type::F32, {100}, data[t].data(), 400);
        }
    }
};

class split_files : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / fmt::format("sluice-split-{}-{}", ::getpid(),
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const std::string & name) const { return (dir_ / name).string(); }
    std::string part(const std::string & prefix, int no, int count) const {
        return split_part_path(path(prefix), static_cast<uint32_t>(no), static_cast<uint32_t>(count));
    }

    fs::path dir_;
};

std::vector<uint8_t> read_at(const std::string & file, uint64_t offset, uint64_t n) {
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::vector<uint8_t> out(n);
    in.read(reinterpret_cast<char *>(out.data()), static_cast<std::streamsize>(n));
    return out;
}

TEST(gguf_split, part_names_are_llama_cpp_s) {
    EXPECT_EQ(split_part_path("out/model", 0, 3), "out/model-00001-of-00003.gguf");
    EXPECT_EQ(split_part_path("m", 11, 12), "m-00012-of-00012.gguf");
    EXPECT_TRUE(is_split_key("split.no"));
    EXPECT_TRUE(is_split_key("split.count"));
    EXPECT_TRUE(is_split_key("split.tensors.count"));
    EXPECT_FALSE(is_split_key("general.name"));
}

TEST(gguf_split, sizes_parse_as_gguf_split_reads_them) {
    EXPECT_EQ(parse_split_size("100M"), 100000000u);
    EXPECT_EQ(parse_split_size("2G"), 2000000000u);
    EXPECT_EQ(parse_split_size("5K"), 5000u);
    EXPECT_EQ(parse_split_size("1234"), 1234u);
    for (const char * bad : {"", "0", "0M", "M", "12X", "-5", "1.5G", "12MB", " 1M", "99999999999999999G"}) {
        EXPECT_THROW(parse_split_size(bad), error) << bad;
    }
    try {
        parse_split_size("12X");
        FAIL();
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("--split-max-size '12X'"), std::string::npos) << e.what();
    }
}

TEST(gguf_split, parts_close_before_the_size_is_passed_and_never_empty) {
    small_model m;
    EXPECT_EQ(m.w.split_points(1000), (std::vector<size_t>{0, 2, 4}));
    EXPECT_EQ(m.w.split_points(832), (std::vector<size_t>{0, 2, 4}));  // two padded tensors fit exactly
    EXPECT_EQ(m.w.split_points(831), (std::vector<size_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(m.w.split_points(10), (std::vector<size_t>{0, 1, 2, 3, 4}));  // each tensor alone
    EXPECT_EQ(m.w.split_points(1u << 30), (std::vector<size_t>{0}));
    EXPECT_THROW(m.w.split_points(0), error);
}

TEST_F(split_files, write_and_open_round_trip) {
    small_model                    m;
    const std::vector<std::string> files = m.w.write_split(path("toy.gguf"), 1000);
    ASSERT_EQ(files, (std::vector<std::string>{part("toy", 0, 3), part("toy", 1, 3), part("toy", 2, 3)}));

    const gguf_file f = gguf_file::open(files[0]);
    ASSERT_EQ(f.n_parts(), 3u);
    EXPECT_EQ(f.part_paths(), files);
    EXPECT_EQ(f.architecture(), "toy");
    EXPECT_EQ(*f.get_u32("toy.block_count"), 5u);
    EXPECT_EQ(*f.get_u32("split.count"), 3u);
    EXPECT_EQ(f.total_size(), fs::file_size(files[0]) + fs::file_size(files[1]) + fs::file_size(files[2]));
    ASSERT_EQ(f.tensors().size(), 5u);
    const uint32_t want_part[5] = {0, 0, 1, 1, 2};
    for (int t = 0; t < 5; ++t) {
        const gguf_tensor & x = f.tensors()[t];
        EXPECT_EQ(x.name, fmt::format("t{}", t));
        EXPECT_EQ(x.part, want_part[t]);
        EXPECT_EQ(f.find_tensor(x.name), &x);
        EXPECT_EQ(f.path_of(x), files[want_part[t]]);
        EXPECT_EQ(std::memcmp(x.data, m.data[t].data(), 400), 0) << x.name;
        // The file offset is where a streaming read finds the bytes.
        EXPECT_EQ(read_at(f.path_of(x), f.file_offset(x), 400), std::vector<uint8_t>(x.data, x.data + 400));
    }

    // Every part carries the split keys; only the first the model's metadata.
    for (int p = 1; p < 3; ++p) {
        const gguf_file & fp = f.part(p);
        EXPECT_EQ(fp.metadata().size(), 3u);
        EXPECT_EQ(*fp.get_u32("split.no"), static_cast<uint32_t>(p));
        EXPECT_EQ(*fp.get_u32("split.count"), 3u);
        EXPECT_EQ(*fp.get_i64("split.tensors.count"), 5);
        EXPECT_EQ(fp.find("split.no")->type, gguf_value_type::UINT16);
        EXPECT_EQ(fp.find("split.tensors.count")->type, gguf_value_type::INT32);
    }
}

TEST_F(split_files, streamed_tensors_and_alignment_carry_into_the_parts) {
    small_model m;
    m.w.set_alignment(64);
    gguf_writer s;
    s.set_string("general.architecture", "toy").set_alignment(64);
    for (int t = 0; t < 5; ++t) {
        s.add_tensor_info(fmt::format("t{}", t), ggml_type::F32, {100});
    }
    const auto produce = [&](size_t i) {
        return std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(m.data[i].data()), 400);
    };
    const std::vector<std::string> files = s.write_split(path("streamed"), 900, produce);  // 448 padded: two a part
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[2], part("streamed", 2, 3));
    const gguf_file f = gguf_file::open(files[0]);
    for (int p = 0; p < 3; ++p) {
        EXPECT_EQ(f.part(p).alignment(), 64u);
    }
    for (int t = 0; t < 5; ++t) {
        EXPECT_EQ(std::memcmp(f.tensors()[t].data, m.data[t].data(), 400), 0);
    }
    // write_maybe_split with no size writes one whole file.
    const std::vector<std::string> whole = s.write_maybe_split(path("whole.gguf"), 0, produce);
    EXPECT_EQ(whole, std::vector<std::string>{path("whole.gguf")});
    EXPECT_EQ(gguf_file::open(whole[0]).n_parts(), 1u);
}

// The error `open` throws, or "" when it opens.
std::string open_error(const std::string & p) {
    try {
        gguf_file::open(p);
        return "";
    } catch (const error & e) {
        return e.what();
    }
}

// Every needle is in the message (an empty message: it opened).
void expect_mentions(const std::string & msg, std::initializer_list<std::string> needles) {
    EXPECT_FALSE(msg.empty()) << "the set opened";
    for (const std::string & n : needles) {
        EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    }
}

TEST_F(split_files, a_missing_part_is_named) {
    small_model m;
    m.w.write_split(path("toy.gguf"), 1000);
    fs::remove(part("toy", 1, 3));
    const std::string msg = open_error(part("toy", 0, 3));
    expect_mentions(msg, {part("toy", 1, 3), "part 2 of 3", "missing"});
}

TEST_F(split_files, only_the_first_part_opens_the_model) {
    small_model m;
    m.w.write_split(path("toy.gguf"), 1000);
    const std::string msg = open_error(part("toy", 2, 3));
    expect_mentions(msg, {part("toy", 2, 3), "part 3 of 3", "load its first part", part("toy", 0, 3)});
}

TEST_F(split_files, a_renamed_first_part_cannot_find_the_others) {
    small_model m;
    m.w.write_split(path("toy.gguf"), 1000);
    fs::rename(part("toy", 0, 3), path("renamed.gguf"));
    const std::string msg = open_error(path("renamed.gguf"));
    expect_mentions(msg, {path("renamed.gguf"), "-00001-of-00003.gguf"});
}

TEST_F(split_files, a_part_of_another_model_is_refused) {
    small_model a, b(0.5f);
    a.w.write_split(path("a.gguf"), 1000);  // 3 parts
    b.w.write_split(path("b.gguf"), 10);    // 5 parts
    // Another split count.
    fs::copy_file(part("b", 1, 5), part("a", 1, 3), fs::copy_options::overwrite_existing);
    std::string msg = open_error(part("a", 0, 3));
    expect_mentions(msg, {part("a", 1, 3), "split.count is 5", "says 3", "another model"});

    // The right count, the wrong position: part 3 where part 2 should be.
    a.w.write_split(path("a.gguf"), 1000);
    fs::copy_file(part("a", 2, 3), part("a", 1, 3), fs::copy_options::overwrite_existing);
    msg = open_error(part("a", 0, 3));
    expect_mentions(msg, {part("a", 1, 3), "split.no is 2", "part 2 of 3"});

    // The right count and position, another model's total.
    small_model c;
    c.w.add_tensor("extra", ggml_type::F32, {100}, c.data[0].data(), 400);
    c.w.write_split(path("c.gguf"), 1000);  // 6 tensors in 3 parts
    a.w.write_split(path("a.gguf"), 1000);
    fs::copy_file(part("c", 2, 3), part("a", 2, 3), fs::copy_options::overwrite_existing);
    msg = open_error(part("a", 0, 3));
    expect_mentions(msg, {part("a", 2, 3), "split.tensors.count is 6", "says 5"});
}

// Parts written by hand, each a whole file with the split keys it is given.
void write_part(const std::string & p, uint16_t no, uint16_t count, int32_t total,
                const std::vector<std::string> & names, const std::vector<float> & data) {
    gguf_writer w;
    if (no == 0) {
        w.set_string("general.architecture", "toy");
    }
    w.set_u16("split.no", no).set_u16("split.count", count).set_i32("split.tensors.count", total);
    for (const std::string & n : names) {
        w.add_tensor(n, ggml_type::F32, {100}, data.data(), 400);
    }
    w.write(p);
}

TEST_F(split_files, counts_that_do_not_add_up_are_refused) {
    const std::vector<float> d(100, 1.0f);
    write_part(part("h", 0, 2), 0, 2, 4, {"a", "b"}, d);
    write_part(part("h", 1, 2), 1, 2, 4, {"c"}, d);
    const std::string msg = open_error(part("h", 0, 2));
    expect_mentions(msg, {part("h", 0, 2), "2 parts hold 3 tensors", "split.tensors.count says 4"});
}

TEST_F(split_files, a_tensor_in_two_parts_is_refused) {
    const std::vector<float> d(100, 1.0f);
    write_part(part("d", 0, 2), 0, 2, 3, {"a", "b"}, d);
    write_part(part("d", 1, 2), 1, 2, 3, {"b"}, d);
    const std::string msg = open_error(part("d", 0, 2));
    expect_mentions(msg, {part("d", 1, 2), "tensor 'b'", "also in " + part("d", 0, 2)});
}

TEST_F(split_files, a_part_without_split_keys_is_refused) {
    const std::vector<float> d(100, 1.0f);
    write_part(part("k", 0, 2), 0, 2, 2, {"a"}, d);
    gguf_writer w;
    w.add_tensor("b", ggml_type::F32, {100}, d.data(), 400);
    w.write(part("k", 1, 2));
    const std::string msg = open_error(part("k", 0, 2));
    expect_mentions(msg, {part("k", 1, 2), "split.count", "not a part of a split model"});
}

TEST_F(split_files, a_model_split_in_one_part_is_a_whole_file) {
    small_model                    m;
    const std::vector<std::string> files = m.w.write_split(path("one.gguf"), 1u << 20);
    ASSERT_EQ(files, std::vector<std::string>{part("one", 0, 1)});
    const gguf_file f = gguf_file::open(files[0]);
    EXPECT_EQ(f.n_parts(), 1u);
    EXPECT_EQ(f.tensors().size(), 5u);
}

TEST_F(split_files, metadata_split_keys_are_replaced_when_written_again) {
    small_model m;
    m.w.write_split(path("toy.gguf"), 1000);
    const gguf_file in = gguf_file::open(part("toy", 0, 3));
    // A copy of a split model's metadata written as two parts gets its own keys.
    gguf_writer w;
    for (const gguf_kv & kv : in.metadata()) {
        w.set_value(std::string(kv.key), kv.value);
    }
    for (const gguf_tensor & t : in.tensors()) {
        w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
    }
    const std::vector<std::string> files = w.write_split(path("again.gguf"), 2000);
    ASSERT_EQ(files.size(), 2u);
    const gguf_file f = gguf_file::open(files[0]);
    EXPECT_EQ(*f.get_u32("split.count"), 2u);
    EXPECT_EQ(f.tensors().size(), 5u);
    EXPECT_EQ(f.metadata().size(), in.metadata().size());
}

}  // namespace
}  // namespace sluice
