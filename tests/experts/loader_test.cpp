// Both reader kinds read what pread reads, many reads in flight, and report short reads
// and bad files as errors naming the file.
#include "experts/io/loader.h"

#include "util/error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace sluice {
namespace {

struct aligned_buffer {
    explicit aligned_buffer(size_t n) : p(static_cast<std::byte *>(std::aligned_alloc(direct_io_alignment, n))) {}
    ~aligned_buffer() { std::free(p); }
    std::byte * p;
};

class loader_test : public ::testing::TestWithParam<reader_kind> {
  protected:
    void SetUp() override {
        path_ = (std::filesystem::temp_directory_path() / ("sluice-loader-" + std::to_string(::getpid()))).string();
        std::mt19937 rng(7);
        bytes_.resize(64 * 4096 + 1000);  // ends mid-block
        for (auto & b : bytes_) {
            b = static_cast<char>(rng());
        }
        std::ofstream(path_, std::ios::binary).write(bytes_.data(), static_cast<std::streamsize>(bytes_.size()));
    }
    void TearDown() override { std::filesystem::remove(path_); }

    std::unique_ptr<async_reader> open(bool direct) {
        reader_options o;
        o.kind   = GetParam();
        o.direct = direct;
        try {
            return open_reader(path_, o);
        } catch (const error & e) {
            if (GetParam() == reader_kind::IO_URING) {
                return nullptr;  // refused by this kernel/sandbox: the automatic kind covers it
            }
            throw;
        }
    }

    std::string       path_;
    std::vector<char> bytes_;
};

TEST_P(loader_test, many_reads_in_flight_return_the_file_bytes) {
    for (bool direct : {true, false}) {
        auto r = open(direct);
        if (!r) {
            GTEST_SKIP() << "io_uring unavailable";
        }
        constexpr int         n = 16;
        aligned_buffer        buf(n * 4 * 4096);
        std::vector<uint64_t> tickets;
        for (int i = 0; i < n; ++i) {
            read_request q;
            q.offset   = static_cast<uint64_t>(i) * 3 * 4096;
            q.length   = 4 * 4096;
            q.required = q.length;
            q.dest     = buf.p + i * 4 * 4096;
            tickets.push_back(r->submit(q));
        }
        for (int i = n - 1; i >= 0; --i) {  // any order
            r->wait(tickets[i]);
            ASSERT_TRUE(r->ready(tickets[i]));
            ASSERT_EQ(std::memcmp(buf.p + i * 4 * 4096, bytes_.data() + i * 3 * 4096, 4 * 4096), 0) << i;
        }
    }
}

TEST_P(loader_test, a_read_past_the_end_is_fine_when_what_is_needed_is_there) {
    auto r = open(true);
    if (!r) {
        GTEST_SKIP() << "io_uring unavailable";
    }
    aligned_buffer buf(2 * 4096);
    read_request   q;
    q.offset   = 64 * 4096;
    q.length   = 2 * 4096;
    q.required = 1000;
    q.dest     = buf.p;
    r->wait(r->submit(q));
    EXPECT_EQ(std::memcmp(buf.p, bytes_.data() + 64 * 4096, 1000), 0);

    q.required       = 1001;  // one byte more than the file has: a truncated file
    const uint64_t t = r->submit(q);
    try {
        r->wait(t);
        FAIL() << "short read not reported";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("short read"), std::string::npos) << e.what();
    }
}

TEST_P(loader_test, a_missing_file_is_an_error_naming_it) {
    reader_options o;
    o.kind = GetParam();
    try {
        open_reader(path_ + ".missing", o);
        FAIL();
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find(".missing"), std::string::npos) << e.what();
    }
}

// A split model's parts: one reader over several files, each read from the file it names;
// a short read names the part that is short, a file index past the last is an error.
TEST_P(loader_test, reads_come_from_the_file_they_name) {
    const std::string second = path_ + ".part2";
    std::vector<char> other(8 * 4096 + 10);
    for (size_t i = 0; i < other.size(); ++i) {
        other[i] = static_cast<char>(i * 31 + 5);
    }
    std::ofstream(second, std::ios::binary).write(other.data(), static_cast<std::streamsize>(other.size()));
    reader_options o;
    o.kind = GetParam();
    std::unique_ptr<async_reader> r;
    try {
        r = open_reader(std::vector<std::string>{path_, second}, o);
    } catch (const error &) {
        std::filesystem::remove(second);
        if (GetParam() == reader_kind::IO_URING) {
            GTEST_SKIP() << "io_uring unavailable";
        }
        throw;
    }
    EXPECT_EQ(r->n_files(), 2u);
    EXPECT_EQ(r->path(1), second);
    aligned_buffer buf(4 * 4096);
    read_request   q;
    q.offset   = 4096;
    q.length   = 2 * 4096;
    q.required = q.length;
    for (uint32_t f : {1u, 0u}) {
        q.file = f;
        q.dest = buf.p + f * 2 * 4096;
        r->wait(r->submit(q));
    }
    EXPECT_EQ(std::memcmp(buf.p, bytes_.data() + 4096, 2 * 4096), 0);
    EXPECT_EQ(std::memcmp(buf.p + 2 * 4096, other.data() + 4096, 2 * 4096), 0);

    q.file     = 1;
    q.offset   = 8 * 4096;
    q.required = 11;  // the second file has 10 bytes there
    try {
        r->wait(r->submit(q));
        ADD_FAILURE() << "short read not reported";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find(second + ": short read"), std::string::npos) << e.what();
    }
    q.file = 2;
    EXPECT_THROW(r->wait(r->submit(q)), error);
    r.reset();
    std::filesystem::remove(second);
}

INSTANTIATE_TEST_SUITE_P(kinds, loader_test, ::testing::Values(reader_kind::IO_URING, reader_kind::PREAD),
                         [](const auto & info) { return info.param == reader_kind::PREAD ? "pread" : "io_uring"; });

}  // namespace
}  // namespace sluice
