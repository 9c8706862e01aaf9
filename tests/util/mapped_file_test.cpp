// A mapped file that shrinks under its mapping (issue 16 item 7): the read that faults ends
// the process with a clear message and status 1, not death by SIGBUS. Deterministic: the
// file is truncated between mapping it and reading it.
#include "util/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLUICE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLUICE_SANITIZED 1
#endif
#endif

namespace sluice {
namespace {

std::string three_pages(const std::string & name) {
    const std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream     out(path, std::ios::binary);
    const std::string page(static_cast<size_t>(::sysconf(_SC_PAGESIZE)), 'w');
    out << page << page << page;
    return path;
}

// Reads the last page of the mapping after truncating the file to nothing.
void shrink_and_read(const std::string & path) {
    const mapped_file m(path);
    if (::truncate(path.c_str(), 0) != 0) {
        std::_Exit(3);
    }
    const volatile uint8_t * p = m.data();
    const uint8_t            x = p[m.size() - 1];  // SIGBUS: past the end of the file now
    std::_Exit(x == 'w' ? 0 : 2);
}

TEST(mapped_file_death, a_file_that_shrinks_under_its_mapping_is_a_clean_error) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const std::string path = three_pages("sluice-shrink.bin");
    EXPECT_EXIT(
        {
            report_mapping_faults();
            shrink_and_read(path);
        },
        ::testing::ExitedWithCode(1), "sluice: error: .*sluice-shrink.bin: the file shrank or was rewritten");
    std::filesystem::remove(path);
}

// Without the handler the same read dies by SIGBUS (what the handler replaces), and with it
// a SIGBUS that is no mapping's keeps its default action.
TEST(mapped_file_death, other_faults_keep_their_default_action) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const std::string path = three_pages("sluice-shrink2.bin");
#if !defined(SLUICE_SANITIZED)  // a sanitizer's own SIGBUS handler would report and exit instead
    EXPECT_EXIT(shrink_and_read(path), ::testing::KilledBySignal(SIGBUS), "");
#endif
    EXPECT_EXIT(
        {
            report_mapping_faults();
            std::raise(SIGBUS);
        },
        ::testing::KilledBySignal(SIGBUS), "");
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace sluice
