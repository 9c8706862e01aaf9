// UTF-8 classification and repair against the Unicode standard's examples, and GPT-2's byte
// map against its published definition (printable bytes map to themselves, the 68 others to
// U+0100.. in byte order: 0x00 -> U+0100, ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(tokenizer_utf8, repair_replaces_maximal_subparts) {
    // Unicode 15 chapter 3, table 3-8: "61 F1 80 80 E1 80 C2 62 80 63 80 BF 64" becomes
    // a, FFFD, FFFD, FFFD, b, FFFD, c, FFFD, FFFD, d.
    const std::string in  = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    const std::string rep = "\xEF\xBF\xBD";
    EXPECT_EQ(utf8::repair(in, true), "a" + rep + rep + rep + "b" + rep + "c" + rep + rep + "d");
}

TEST(tokenizer_utf8, incomplete_tail_is_held_until_final) {
    size_t held = 0;
    EXPECT_EQ(utf8::repair("ab\xE4\xB8", false, &held), "ab");
    EXPECT_EQ(held, 2u);
    EXPECT_EQ(utf8::repair("ab\xE4\xB8", true), "ab\xEF\xBF\xBD");
    EXPECT_EQ(utf8::repair("\xE4\xB8\xAD", false, &held), "\xE4\xB8\xAD");
    EXPECT_EQ(held, 0u);
}

TEST(tokenizer_utf8, rejects_overlongs_surrogates_and_out_of_range) {
    EXPECT_FALSE(utf8::is_valid("\xC0\xAF"));          // overlong '/'
    EXPECT_FALSE(utf8::is_valid("\xE0\x80\xAF"));      // overlong
    EXPECT_FALSE(utf8::is_valid("\xED\xA0\x80"));      // surrogate D800
    EXPECT_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));  // U+110000
    EXPECT_TRUE(utf8::is_valid("\xF0\x9F\x98\x80"));   // U+1F600
    EXPECT_TRUE(utf8::is_valid("\xEF\xBF\xBD"));
}

TEST(tokenizer_gpt2_bytes, known_points_of_the_map) {
    EXPECT_EQ(gpt2_bytes::byte_to_cp('A'), 'A');
    EXPECT_EQ(gpt2_bytes::byte_to_cp(0x00), 0x100u);
    EXPECT_EQ(gpt2_bytes::byte_to_cp('\n'), 0x10Au);
    EXPECT_EQ(gpt2_bytes::byte_to_cp(' '), 0x120u);
    EXPECT_EQ(gpt2_bytes::byte_to_cp(0x7F), 0x121u);
    EXPECT_EQ(gpt2_bytes::byte_to_cp(0xAD), 0x143u);  // the last non-printable byte
    EXPECT_EQ(gpt2_bytes::byte_to_text(' '), "\xC4\xA0");
    for (int b = 0; b < 256; ++b) EXPECT_EQ(gpt2_bytes::cp_to_byte(gpt2_bytes::byte_to_cp(uint8_t(b))), b);
    EXPECT_EQ(gpt2_bytes::cp_to_byte(0x144), -1);
    EXPECT_EQ(gpt2_bytes::cp_to_byte(0x2581), -1);
}

}  // namespace
}  // namespace sluice
