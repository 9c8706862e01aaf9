#include "experts/budget.h"

#include "util/error.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(parse_budget, sizes_and_percentages) {
    EXPECT_EQ(parse_budget("512M", 0), 512ull << 20);
    EXPECT_EQ(parse_budget("2G", 0), 2ull << 30);
    EXPECT_EQ(parse_budget("1.5GiB", 0), 3ull << 29);
    EXPECT_EQ(parse_budget("4096", 0), 4096u);
    EXPECT_EQ(parse_budget("64kb", 0), 64u * 1024);
    EXPECT_EQ(parse_budget("25%", 1000), 250u);
    EXPECT_EQ(parse_budget("100%", 1000), 1000u);
}

TEST(parse_budget, rejects_nonsense_naming_the_flag) {
    for (const char * bad : {"", "M", "12Q", "-5M", "0%", "150%", "1e3", "0"}) {
        try {
            parse_budget(bad, 1000);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const error & e) {
            EXPECT_NE(std::string(e.what()).find("--expert-budget"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace sluice
