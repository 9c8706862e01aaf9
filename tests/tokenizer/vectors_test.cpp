// The llama.cpp tokenizer test vectors (tests/data/tokenizer, copied from shared/fixtures):
// encode without BOS and without parsing special text must give the expected ids exactly,
// and decoding them must give the input back (every vocabulary here is lossless).
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace sluice::test {
namespace {

struct vector_case {
    const char * vocab;   // GGUF file in tests/data
    const char * inputs;  // .inp/.out prefix in tests/data
    const char * kind;
    size_t       min_vectors;  // guards against a truncated or misread fixture
};

class tokenizer_vectors : public ::testing::TestWithParam<vector_case> {};

std::string show(const std::vector<int32_t> & ids) {
    std::string s;
    for (int32_t id : ids) {
        s += ' ';
        s += std::to_string(id);
    }
    return s;
}

TEST_P(tokenizer_vectors, encode_matches_and_decode_round_trips) {
    const vector_case & c   = GetParam();
    const auto          tok = load_tokenizer(c.vocab);
    EXPECT_EQ(tok->kind(), c.kind);
    const auto cases = read_vectors(std::string(c.inputs) + ".inp", std::string(c.inputs) + ".out");
    ASSERT_GE(cases.size(), c.min_vectors);
    size_t failed = 0;
    for (const auto & [text, expected] : cases) {
        const std::vector<int32_t> got = tok->encode(text, false, false);
        if (got != expected) {
            ++failed;
            ADD_FAILURE() << c.vocab << ": input '" << text << "'\n  expected" << show(expected) << "\n  got     "
                          << show(got);
            continue;
        }
        EXPECT_EQ(tok->decode(expected), text) << c.vocab << ": decode of '" << text << "'";
    }
    EXPECT_EQ(failed, 0u) << "of " << cases.size();
}

INSTANTIATE_TEST_SUITE_P(
    fixtures, tokenizer_vectors,
    ::testing::Values(
        vector_case{"tiny-qwen3moe-f16.gguf", "tokenizer/sp4096", "spm", 80},
        vector_case{"tokenizer/ggml-vocab-llama-spm.gguf", "tokenizer/ggml-vocab-llama-spm.gguf", "spm", 40},
        vector_case{"tokenizer/ggml-vocab-phi-3.gguf", "tokenizer/ggml-vocab-phi-3.gguf", "spm", 40},
        vector_case{"tokenizer/ggml-vocab-gpt-2.gguf", "tokenizer/ggml-vocab-gpt-2.gguf", "bpe", 40},
        vector_case{"tokenizer/ggml-vocab-deepseek-coder.gguf", "tokenizer/ggml-vocab-deepseek-coder.gguf", "bpe", 40},
        vector_case{"tokenizer/ggml-vocab-deepseek-llm.gguf", "tokenizer/ggml-vocab-deepseek-llm.gguf", "bpe", 40},
        vector_case{"tokenizer/ggml-vocab-falcon.gguf", "tokenizer/ggml-vocab-falcon.gguf", "bpe", 40},
        vector_case{"tokenizer/ggml-vocab-mpt.gguf", "tokenizer/ggml-vocab-mpt.gguf", "bpe", 40},
        vector_case{"tokenizer/ggml-vocab-refact.gguf", "tokenizer/ggml-vocab-refact.gguf", "bpe", 40},
        vector_case{"tokenizer/ggml-vocab-starcoder.gguf", "tokenizer/ggml-vocab-starcoder.gguf", "bpe", 40}),
    [](const ::testing::TestParamInfo<vector_case> & info) { return test_name_of(info.param.inputs); });

}  // namespace
}  // namespace sluice::test
