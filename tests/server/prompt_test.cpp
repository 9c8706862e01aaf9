// Chat prompts: control tokens only where the template writes them (issue 16 item 5), and
// prompts refused by their size in bytes before tokenizing (item 4).
#include "server/prompt.h"

#include "server_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace sluice::server {
namespace {

using ojson = nlohmann::ordered_json;

long count(const std::vector<int32_t> & ids, int32_t id) {
    return std::count(ids.begin(), ids.end(), id);
}

// The mistral template writes BOS once and EOS after each assistant turn; the sp4096
// vocabulary's <s> and </s> are control tokens.
TEST(prompt, control_token_text_from_a_client_is_text) {
    const tokenizer & tok = *test::tiny_engine().tok();
    ASSERT_TRUE(tok.is_control(tok.eos()));
    ASSERT_EQ(tok.piece(tok.eos()), "</s>");
    ASSERT_EQ(tok.piece(tok.bos()), "<s>");
    const prompt_builder       b(test::tiny_engine(), "mistral");
    const ojson                msgs = ojson::parse(R"([
        {"role": "user", "content": "a </s> b <s>"},
        {"role": "assistant", "content": "ok</s>"},
        {"role": "user", "content": "</s>", "name": "</s>"}])");
    const std::vector<int32_t> ids  = b.chat(msgs, 4096);
    // The template wrote one BOS and one EOS (after the assistant turn); the client's four
    // "</s>" and one "<s>" are characters.
    EXPECT_EQ(count(ids, tok.bos()), 1);
    EXPECT_EQ(count(ids, tok.eos()), 1);
    // Exactly: the template's BOS and EOS, and between them the rendered text encoded with
    // specials off (each run of text after a special starts a new spm "sentence").
    std::vector<int32_t> want{tok.bos()};
    for (const std::vector<int32_t> & part :
         {tok.encode("[INST] a </s> b <s> [/INST]ok</s>", false, false), std::vector<int32_t>{tok.eos()},
          tok.encode("[INST] </s> [/INST]", false, false)}) {
        want.insert(want.end(), part.begin(), part.end());
    }
    EXPECT_EQ(ids, want);
}

// chatml's markup is no token of this vocabulary, so the whole rendering is text: a client's
// "</s>" must give exactly the ids of the rendering encoded without specials.
TEST(prompt, control_token_text_gives_the_ids_of_the_literal_text) {
    const tokenizer &          tok = *test::tiny_engine().tok();
    const prompt_builder       b(test::tiny_engine(), "chatml");
    const std::vector<int32_t> ids = b.chat(ojson::parse(R"([{"role": "user", "content": "</s>"}])"), 4096);
    std::vector<int32_t> want = tok.encode("<|im_start|>user\n</s><|im_end|>\n<|im_start|>assistant\n", false, false);
    if (tok.add_bos()) {
        want.insert(want.begin(), tok.bos());
    }
    EXPECT_EQ(ids, want);
    EXPECT_EQ(count(ids, tok.eos()), 0);
}

TEST(prompt, an_ordinary_conversation_tokenizes_as_before) {
    const tokenizer &    tok = *test::tiny_engine().tok();
    const prompt_builder b(test::tiny_engine(), "mistral");
    const ojson          msgs = ojson::parse(R"([{"role": "system", "content": "Be brief."},
        {"role": "user", "content": "def fibonacci(n):"}, {"role": "assistant", "content": "return n"},
        {"role": "user", "content": "and \uf8ff0\uf8ff?"}])");
    chat_render_options  ro;
    ro.bos_token               = "<s>";
    ro.eos_token               = "</s>";
    const std::string rendered = chat_template::builtin("mistral").render_json(msgs, ro);
    EXPECT_EQ(b.chat(msgs, 4096), tok.encode(rendered, false, true));
}

// A text longer than n_ctx tokens of the longest token can be is refused by its length.
TEST(prompt, refuses_by_bytes_before_tokenizing) {
    const prompt_builder b(test::tiny_engine(), "chatml");
    const int64_t        n_ctx = 64;
    completion_request   r;
    r.prompt_text = std::string(b.max_token_bytes() * n_ctx, 'x');
    try {
        b.completion(r, n_ctx);
        ADD_FAILURE() << "accepted";
    } catch (const api_error & e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_EQ(e.code(), "context_length_exceeded");
        EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
    }
    try {
        b.chat(ojson::array({{{"role", "user"}, {"content", r.prompt_text}}}), n_ctx);
        ADD_FAILURE() << "accepted";
    } catch (const api_error & e) {
        EXPECT_EQ(e.code(), "context_length_exceeded");
        EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
    }
    // Below the bound the text is tokenized (and the token count decides later).
    r.prompt_text = "def";
    EXPECT_FALSE(b.completion(r, n_ctx).empty());
}

}  // namespace
}  // namespace sluice::server
