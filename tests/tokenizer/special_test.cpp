// Special tokens, BOS/EOS and end-of-generation against facts stated outside this code: the
// fixture README (sp4096: unk 0, bos 1, eos 2; "def fibonacci(n):\n" with BOS), and the
// published ids of GPT-2 (<|endoftext|> = 50256) and Phi-3 (<|end|> = 32007, eos 32000).
#include "tokenizer_test_util.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace sluice::test {
namespace {

TEST(tokenizer_special, sp4096_ids_and_bos) {
    const auto tok = load_tokenizer("tiny-qwen3moe-f16.gguf");
    EXPECT_EQ(tok->kind(), "spm");
    EXPECT_EQ(tok->n_vocab(), 4096);
    EXPECT_EQ(tok->bos(), 1);
    EXPECT_EQ(tok->eos(), 2);
    EXPECT_EQ(tok->unk(), 0);
    EXPECT_TRUE(tok->is_end_of_generation(2));
    EXPECT_FALSE(tok->is_end_of_generation(1));
    const std::vector<int32_t> expected = {1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13};
    EXPECT_EQ(tok->encode("def fibonacci(n):\n", true, false), expected);
    EXPECT_EQ(tok->decode(expected), "def fibonacci(n):\n");
    EXPECT_EQ(tok->token_bytes(13), "\n");  // <0x0A>
    EXPECT_EQ(tok->token_bytes(1), "");
    EXPECT_EQ(tok->token_bytes(1, true), "<s>");
    EXPECT_EQ(tok->piece(1), "<s>");
    EXPECT_EQ(tok->token_bytes(-1), "");
    EXPECT_EQ(tok->token_bytes(4096), "");
}

TEST(tokenizer_special, control_text_is_parsed_only_when_asked) {
    const auto tok    = load_tokenizer("tiny-qwen3moe-f16.gguf");
    const auto plain  = tok->encode("a</s>b", false, false);
    const auto parsed = tok->encode("a</s>b", false, true);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
    ASSERT_EQ(std::count(parsed.begin(), parsed.end(), 2), 1);
    // Text after a special token gets its own dummy prefix, like the start of the input.
    const auto after = std::find(parsed.begin(), parsed.end(), 2) + 1;
    EXPECT_EQ(std::vector<int32_t>(after, parsed.end()), tok->encode("b", false, false));
    EXPECT_EQ(tok->decode(parsed, true), "a</s> b");
}

TEST(tokenizer_special, spm_space_mark_in_input_reads_as_space) {
    // SentencePiece cannot tell a literal U+2581 from an escaped space: both decode to ' '.
    const auto tok = load_tokenizer("tiny-qwen3moe-f16.gguf");
    EXPECT_EQ(tok->encode("a\xE2\x96\x81"
                          "b",
                          false, false),
              tok->encode("a b", false, false));
}

TEST(tokenizer_special, gpt2_endoftext) {
    const auto tok = load_tokenizer("tokenizer/ggml-vocab-gpt-2.gguf");
    EXPECT_EQ(tok->kind(), "bpe");
    EXPECT_EQ(tok->piece(50256), "<|endoftext|>");
    EXPECT_EQ(tok->eos(), 50256);
    EXPECT_TRUE(tok->is_end_of_generation(50256));
    EXPECT_FALSE(tok->add_bos());
    EXPECT_EQ(tok->encode("Hello", true, false), tok->encode("Hello", false, false));
}

TEST(tokenizer_special, phi3_end_of_turn) {
    const auto tok = load_tokenizer("tokenizer/ggml-vocab-phi-3.gguf");
    EXPECT_EQ(tok->find_piece("<|end|>"), 32007);
    EXPECT_EQ(tok->eot(), 32007);
    EXPECT_TRUE(tok->is_end_of_generation(32007));
    EXPECT_TRUE(tok->is_end_of_generation(32000));  // eos <|endoftext|>
    const auto ids = tok->encode("<|user|>hi<|end|>", false, true);
    EXPECT_EQ(ids.front(), tok->find_piece("<|user|>"));
    EXPECT_EQ(ids.back(), 32007);
}

// Phi-3's specials eat the whitespace after them (rstrip), all but <unk>, <s> and
// <|endoftext|>. Expected ids: llama-tokenize (llama.cpp d32676d77, which parses specials and
// adds BOS) on the same vocabulary.
TEST(tokenizer_special, phi3_specials_strip_the_whitespace_after_them) {
    const auto tok = load_tokenizer("tokenizer/ggml-vocab-phi-3.gguf");
    const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
        {"</s> hello", {1, 2, 22172}},
        {"hi</s>  there", {1, 7251, 2, 727}},
        {"<|user|> what<|end|> ok", {1, 32010, 825, 32007, 3431}},
        {"<|assistant|>\nSure", {1, 32001, 18585}},
        {"a </s>\n b", {1, 263, 29871, 2, 289}},
        {"<s> x", {1, 1, 29871, 921}},
        {"<|endoftext|> x", {1, 32000, 29871, 921}},
    };
    for (const auto & [text, ids] : cases) {
        EXPECT_EQ(tok->encode(text, true, true), ids) << text;
    }
    // Other vocabularies keep the space (the tiny models' sp4096 is not Phi-3's).
    const auto sp = load_tokenizer("tiny-qwen3moe-f16.gguf");
    EXPECT_NE(sp->encode("</s> hello", false, true), sp->encode("</s>hello", false, true));
}

// A hand-made vocabulary for the error paths.
std::vector<uint8_t> tiny_bpe(std::string_view model, std::string_view pre, bool with_merges) {
    gguf_writer w;
    w.set_string("tokenizer.ggml.model", model);
    if (!pre.empty()) w.set_string("tokenizer.ggml.pre", pre);
    w.set_array_strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
    if (with_merges) w.set_array_strings("tokenizer.ggml.merges", {"a b"});
    return w.to_bytes();
}

void expect_error(const std::vector<uint8_t> & bytes, const std::string & needle) {
    const gguf_file f = gguf_file::parse(bytes, "tiny.gguf");
    try {
        tokenizer::from_gguf(f);
        ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
    } catch (const sluice::error & e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("tiny.gguf"), std::string::npos) << e.what();
    }
}

TEST(tokenizer_special, clear_errors) {
    expect_error(tiny_bpe("gpt2", "no-such-pre", true),
                 "tokenizer.ggml.pre 'no-such-pre' is not supported (known: default, gpt-2");
    expect_error(tiny_bpe("gpt2", "gpt-2", false), "tokenizer.ggml.merges");
    expect_error(tiny_bpe("t5", "", true), "tokenizer.ggml.model 't5' is not supported");
    gguf_writer w;
    w.set_string("tokenizer.ggml.model", "llama");
    expect_error(w.to_bytes(), "tokenizer.ggml.tokens");
}

TEST(tokenizer_special, tiny_bpe_merges) {
    const auto      bytes = tiny_bpe("gpt2", "gpt-2", true);
    const gguf_file f     = gguf_file::parse(bytes, "tiny.gguf");
    const auto      tok   = tokenizer::from_gguf(f);
    EXPECT_EQ(tok->encode("ab", false, false), (std::vector<int32_t>{2}));
    EXPECT_EQ(tok->encode("aab", false, false), (std::vector<int32_t>{0, 2}));
    // Bytes the vocabulary lacks cannot be said; they are dropped rather than crashing.
    EXPECT_EQ(tok->encode("a c", false, false), (std::vector<int32_t>{0}));
}

}  // namespace
}  // namespace sluice::test
