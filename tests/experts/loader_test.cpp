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

INSTANTIATE_TEST_SUITE_P(kinds, loader_test, ::testing::Values(reader_kind::IO_URING, reader_kind::PREAD),
                         [](const auto & info) { return info.param == reader_kind::PREAD ? "pread" : "io_uring"; });

}  // namespace
}  // namespace sluice
