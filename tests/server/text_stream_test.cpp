// Streamed text: the pieces join to the decoded text, stop strings cut it (wherever token
// boundaries fall) and no prefix of a stop string is sent before it is known not to be one.
#include "server/text_stream.h"

#include "server_test_util.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

struct streamed {
    std::string              text;
    std::vector<std::string> pieces;
    bool                     stopped = false;
};

streamed run(const std::string & input, std::vector<std::string> stop) {
    const tokenizer &          tok = *test::tiny_engine().tok();
    const std::vector<int32_t> ids = tok.encode(input, false, false);
    text_stream                ts(tok, std::move(stop));
    streamed                   out;
    for (int32_t id : ids) {
        out.pieces.push_back(ts.push(id));
        out.text += out.pieces.back();
        if (ts.stopped()) {
            break;
        }
    }
    out.text += ts.finish();
    out.stopped = ts.stopped();
    // The encoding put the spm dummy prefix in front of the input; a continuation keeps it
    // (see keeps_the_first_tokens_leading_space), so the input starts after it.
    EXPECT_EQ(out.text.substr(0, 1), " ");
    out.text.erase(0, 1);
    return out;
}

// Generated text follows a prompt: the first token's leading space is part of it. Before
// issue 16 item 10 the detokenizer dropped it as if it were the dummy prefix of a text start
// ("The GNU" + " General" came out as "The GNUGeneral").
TEST(text_stream, keeps_the_first_tokens_leading_space) {
    const tokenizer & tok = *test::tiny_engine().tok();
    const int32_t     def = 629;  // " def" in the sp4096 vocabulary (tests/data README)
    ASSERT_EQ(tok.token_bytes(def), " def");
    text_stream ts(tok, {});
    std::string text = ts.push(def);
    text += ts.push(def);
    text += ts.finish();
    EXPECT_EQ(text, " def def");
}

TEST(text_stream, without_stop_strings_equals_decode) {
    const std::string in = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1)";
    const streamed    s  = run(in, {});
    EXPECT_EQ(s.text, in);
    EXPECT_FALSE(s.stopped);
}

TEST(text_stream, stops_before_the_stop_string) {
    const streamed s = run("def fibonacci(n):\n    return n", {"return", "zzz"});
    EXPECT_TRUE(s.stopped);
    EXPECT_EQ(s.text, "def fibonacci(n):\n    ");
    // A stop string that starts inside a token.
    EXPECT_EQ(run("def fibonacci(n):", {"bon"}).text, "def fi");
    EXPECT_EQ(run("def fibonacci(n):", {"(n):"}).text, "def fibonacci");
}

TEST(text_stream, holds_back_a_possible_stop_string) {
    const streamed s = run("def fibonacci(n):", {"fibonacci(x)"});
    EXPECT_FALSE(s.stopped);
    EXPECT_EQ(s.text, "def fibonacci(n):");
    // "fibonacci(" could still have become the stop string: it was held until "n" came.
    std::string sent_before_n;
    for (const std::string & p : s.pieces) {
        if (p.find('n') != std::string::npos && p.find("(n") != std::string::npos) {
            break;
        }
        sent_before_n += p;
    }
    EXPECT_EQ(sent_before_n.find("fibonacci("), std::string::npos);
}

}  // namespace
}  // namespace sluice::server
