// page_block: the memory expert reads land in. Starts on a 2 MiB boundary (so transparent
// huge pages can back it), holds whole 4 KiB pages and no more, is zero, and is resident at
// once when populated (mincore says which pages are).
#include "experts/page_block.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace sluice {
namespace {

constexpr uint64_t mib = uint64_t{1} << 20;

// Pages of the block that are resident now.
size_t resident_pages(const page_block & b) {
    const auto           page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::vector<uint8_t> in((b.size() + page - 1) / page);
    EXPECT_EQ(::mincore(b.data(), b.size(), reinterpret_cast<unsigned char *>(in.data())), 0);
    size_t n = 0;
    for (uint8_t v : in) {
        n += v & 1;
    }
    return n;
}

TEST(page_block, starts_on_a_huge_page_boundary_and_holds_whole_pages) {
    const auto       page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const page_block b(5 * mib + 123, "test");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (2 * mib), 0u);
    EXPECT_EQ(b.size(), (5 * mib + 123 + page - 1) / page * page);
    // Zero, and writable to its last byte.
    EXPECT_EQ(b.data()[0], std::byte{0});
    EXPECT_EQ(b.data()[b.size() - 1], std::byte{0});
    b.data()[b.size() - 1] = std::byte{7};
    EXPECT_EQ(b.data()[b.size() - 1], std::byte{7});
}

TEST(page_block, populate_makes_every_page_resident_and_lazy_makes_none) {
    const page_block lazy(3 * mib, "lazy");
    EXPECT_EQ(resident_pages(lazy), 0u);
    const page_block ready(3 * mib, "populated", true);
    const auto       page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    EXPECT_EQ(resident_pages(ready), ready.size() / page);
}

TEST(page_block, an_empty_block_holds_nothing_and_a_moved_block_changes_hands) {
    const page_block none(0, "none");
    EXPECT_EQ(none.data(), nullptr);
    EXPECT_EQ(none.size(), 0u);

    page_block a(mib, "a");
    a.data()[10]         = std::byte{42};
    std::byte * const at = a.data();
    page_block        b(std::move(a));
    EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(b.data(), at);
    EXPECT_EQ(b.data()[10], std::byte{42});
    page_block c;
    c = std::move(b);
    EXPECT_EQ(c.data(), at);
    EXPECT_EQ(c.size(), mib);
}

}  // namespace
}  // namespace sluice
