// Pre-tokenizer regexes: every known name compiles, the split always covers the input exactly,
// and the well-known splits of the tiktoken-style patterns hold (cl100k/Llama 3 groups digits
// by three; o200k/GPT-4o cuts at lower->upper case changes and keeps contractions attached).
#include "tokenizer/pretokenize.h"

#include "util/error.h"

#include <gtest/gtest.h>

#include <random>

namespace sluice {
namespace {

std::vector<std::string> split(std::string_view pre, std::string_view text) {
    const pretokenizer                     p(pretokenizer_for(pre, "test").regexes, "test");
    std::vector<std::pair<size_t, size_t>> words;
    p.split(text, words);
    std::vector<std::string> out;
    for (const auto & [off, len] : words) out.emplace_back(text.substr(off, len));
    return out;
}

TEST(tokenizer_pretokenize, every_known_name_compiles_and_covers_the_input) {
    std::mt19937 rng(5);
    for (std::string_view name : known_pretokenizers()) {
        const pretokenizer p(pretokenizer_for(name, "test").regexes, "test");
        for (int iter = 0; iter < 20; ++iter) {
            std::string text;
            for (int k = 0; k < 40; ++k) text += char(rng() % 256);  // any bytes, valid or not
            text += "Hello, World's 12345\n\n  x\xE4\xB8\xAD\xE6\x96\x87";
            std::vector<std::pair<size_t, size_t>> words;
            p.split(text, words);
            size_t at = 0;
            for (const auto & [off, len] : words) {
                ASSERT_EQ(off, at) << name;
                ASSERT_GT(len, 0u) << name;
                at += len;
            }
            ASSERT_EQ(at, text.size()) << name;
        }
    }
}

TEST(tokenizer_pretokenize, llama3_groups_digits_by_three) {
    EXPECT_EQ(split("llama-bpe", "Hello world 12345"), (std::vector<std::string>{"Hello", " world", " ", "123", "45"}));
    EXPECT_EQ(split("llama-bpe", "I'M here"), (std::vector<std::string>{"I", "'M", " here"}));
}

TEST(tokenizer_pretokenize, gpt4o_cuts_at_case_changes) {
    EXPECT_EQ(split("gpt-4o", "helloWorld's x"), (std::vector<std::string>{"hello", "World's", " x"}));
}

TEST(tokenizer_pretokenize, gpt2_keeps_space_with_the_next_word) {
    EXPECT_EQ(split("gpt-2", "a  b\n"), (std::vector<std::string>{"a", " ", " b", "\n"}));
}

TEST(tokenizer_pretokenize, unknown_name_lists_known_ones) {
    try {
        pretokenizer_for("nope", "model.gguf");
        ADD_FAILURE() << "no error";
    } catch (const sluice::error & e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("model.gguf"), std::string::npos);
        EXPECT_NE(msg.find("qwen2"), std::string::npos);
        EXPECT_NE(msg.find("gpt-4o"), std::string::npos);
    }
}

}  // namespace
}  // namespace sluice
