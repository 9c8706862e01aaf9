// Request validation: every malformed body is a 400 naming the parameter, in OpenAI's error
// shape; null means absent; unknown fields are ignored.
#include "server/request.h"

#include "server/sse.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

api_error chat_error(const std::string & body) {
    try {
        parse_chat_request(body);
    } catch (const api_error & e) {
        return e;
    }
    ADD_FAILURE() << "accepted: " << body;
    return api_error(0, "");
}

TEST(request, a_minimal_chat_request) {
    chat_request r = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(r.gen.model, "m");
    EXPECT_FALSE(r.gen.stream);
    EXPECT_FALSE(r.gen.max_tokens);
    EXPECT_EQ(r.gen.top_logprobs, -1);
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0]["content"], "hi");
}

TEST(request, every_option_and_unknown_fields) {
    chat_request r = parse_chat_request(R"({"model":"m","messages":[
        {"role":"developer","content":"be brief"},
        {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
        {"role":"assistant","content":null}],
      "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":7,"max_tokens":9,
      "temperature":0.5,"top_p":0.9,"seed":-3,"stop":["x","","yz"],"n":1,"logprobs":true,"top_logprobs":3,
      "user":"u","frequency_penalty":0.5,"some_future_field":{"a":[1,2]},"top_k":null})");
    EXPECT_TRUE(r.gen.stream);
    EXPECT_TRUE(r.gen.include_usage);
    EXPECT_EQ(*r.gen.max_tokens, 9);  // max_tokens wins over max_completion_tokens
    EXPECT_FLOAT_EQ(*r.gen.temperature, 0.5f);
    EXPECT_FLOAT_EQ(*r.gen.top_p, 0.9f);
    EXPECT_EQ(*r.gen.seed, static_cast<uint64_t>(-3));
    EXPECT_EQ(r.gen.stop, (std::vector<std::string>{"x", "yz"}));
    EXPECT_EQ(r.gen.top_logprobs, 3);
    EXPECT_FALSE(r.gen.top_k);
    EXPECT_EQ(r.messages[0]["role"], "system");
    EXPECT_EQ(r.messages[1]["content"], "ab");
    EXPECT_EQ(r.messages[2]["content"], "");
}

TEST(request, errors_name_the_parameter) {
    struct bad {
        const char * body;
        const char * param;
    };
    const bad cases[] = {
        {R"({"messages":[{"role":"user","content":"hi"}]})", "model"},
        {R"({"model":1,"messages":[{"role":"user","content":"hi"}]})", "model"},
        {R"({"model":"m"})", "messages"},
        {R"({"model":"m","messages":[]})", "messages"},
        {R"({"model":"m","messages":"hi"})", "messages"},
        {R"({"model":"m","messages":[{"content":"hi"}]})", "messages[0].role"},
        {R"({"model":"m","messages":[{"role":"wizard","content":"hi"}]})", "messages[0].role"},
        {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
        {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"})", "temperature"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":2.5})", "temperature"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"top_p":-0.1})", "top_p"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0})", "max_tokens"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1.5})", "max_tokens"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":"5"})", "max_tokens"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-1})",
         "max_completion_tokens"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"n":2})", "n"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":"yes"})", "stream"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}})",
         "stream_options"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]})", "stop"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stop":[1]})", "stop"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"seed":"1"})", "seed"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"top_logprobs":2})", "top_logprobs"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21})",
         "top_logprobs"},
        {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"presence_penalty":"x"})", "presence_penalty"},
    };
    for (const bad & c : cases) {
        const api_error e = chat_error(c.body);
        EXPECT_EQ(e.status(), 400) << c.body;
        EXPECT_EQ(e.param(), c.param) << c.body;
        EXPECT_EQ(e.type(), "invalid_request_error");
    }
}

TEST(request, malformed_json_and_invalid_utf8) {
    for (const char * body : {"", "{", "[1,2]", "{\"model\": }", "null", "\"text\""}) {
        const api_error e = chat_error(body);
        EXPECT_EQ(e.status(), 400) << body;
        EXPECT_EQ(e.code(), "invalid_json") << body;
    }
    const std::string bad_utf8 = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}";
    EXPECT_EQ(chat_error(bad_utf8).code(), "invalid_utf8");
}

TEST(request, error_json_shape) {
    const nlohmann::json j = bad_param("temperature", "too hot", "invalid_value").to_json();
    EXPECT_EQ(j["error"]["message"], "too hot");
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_EQ(j["error"]["param"], "temperature");
    EXPECT_EQ(j["error"]["code"], "invalid_value");
    const nlohmann::json k = api_error(503, "busy", "server_error").to_json();
    EXPECT_TRUE(k["error"]["param"].is_null());
    EXPECT_TRUE(k["error"]["code"].is_null());
}

TEST(request, completion_prompts) {
    EXPECT_EQ(parse_completion_request(R"({"model":"m","prompt":"abc"})").prompt_text, "abc");
    EXPECT_EQ(parse_completion_request(R"({"model":"m","prompt":["abc"]})").prompt_text, "abc");
    completion_request ids = parse_completion_request(R"({"model":"m","prompt":[1,2,3],"logprobs":2})");
    EXPECT_TRUE(ids.prompt_is_ids);
    EXPECT_EQ(ids.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(ids.gen.top_logprobs, 2);
    EXPECT_TRUE(parse_completion_request(R"({"model":"m","prompt":[1,2,3],"echo":true})").echo);
    EXPECT_EQ(parse_completion_request(R"({"model":"m","prompt":[[4,5]]})").prompt_ids, (std::vector<int32_t>{4, 5}));
    for (const char * body : {R"({"model":"m"})", R"({"model":"m","prompt":5})", R"({"model":"m","prompt":["a","b"]})",
                              R"({"model":"m","prompt":[1,"a"]})", R"({"model":"m","prompt":[-1]})",
                              R"({"model":"m","prompt":"a","logprobs":6})", R"({"model":"m","prompt":"a","echo":1})"}) {
        EXPECT_THROW(parse_completion_request(body), api_error) << body;
    }
}

TEST(request, utf8_validation) {
    EXPECT_TRUE(is_valid_utf8("plain"));
    EXPECT_TRUE(is_valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));  // é € 😀
    EXPECT_FALSE(is_valid_utf8("\xC3"));                                 // truncated
    EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));                             // overlong
    EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));                         // surrogate
    EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));                     // past U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(sse, framing) {
    nlohmann::ordered_json j = {{"a", "line1\nline2"}, {"b", 1}};
    EXPECT_EQ(sse_event(j), "data: {\"a\":\"line1\\nline2\",\"b\":1}\n\n");
    EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
    // A token's partial UTF-8 never breaks the JSON.
    EXPECT_EQ(dump_json(nlohmann::ordered_json("\xE2\x82")), "\"\xEF\xBF\xBD\"");
}

// Issue 16 item 1: a 260 KB body nesting 130k levels in an extra field of a message
// overflowed the stack (the message was copied recursively before any depth check). The
// depth is now checked on the bytes, before parsing.
TEST(request, deep_nesting_is_refused_before_parsing) {
    const size_t      depth = 130000;
    const std::string deep  = std::string(depth, '[') + std::string(depth, ']');
    const api_error e = chat_error(R"({"model":"m","messages":[{"role":"user","content":"hi","extra":)" + deep + "}]}");
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "invalid_json");
    const api_error c = chat_error(R"({"model":"m","x":)" + std::string(depth, '{') + "}");
    EXPECT_EQ(c.status(), 400);
    // Within the limit, extra fields are kept for the template; brackets inside strings
    // (escaped quotes too) are not nesting.
    const std::string ok = std::string(40, '[') + std::string(40, ']');
    chat_request      r =
        parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"[[[\"{{{{","extra":)" + ok + "}]}");
    EXPECT_EQ(r.messages[0]["content"], "[[[\"{{{{");
    EXPECT_EQ(r.messages[0]["extra"].dump(), ok);
    const std::string in_string = std::string(1000, '[');
    EXPECT_NO_THROW(parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":")" + in_string + "\"}]}"));
}

// Issue 16 item 6: numbers no double holds were a 500 (nlohmann's out_of_range escaped).
TEST(request, numbers_out_of_double_range_are_400) {
    for (const std::string & n : {std::string("1e309"), std::string("-1e309"), std::string(400, '9')}) {
        for (const std::string & body :
             {R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":)" + n + "}",
              R"({"model":"m","messages":[{"role":"user","content":"hi","extra":[)" + n + "]}]}"}) {
            const api_error e = chat_error(body);
            EXPECT_EQ(e.status(), 400) << body;
            EXPECT_EQ(e.code(), "invalid_json") << body;
        }
        try {
            parse_completion_request(R"({"model":"m","prompt":"x","max_tokens":)" + n + "}");
            ADD_FAILURE() << "accepted " << n;
        } catch (const api_error & e) {
            EXPECT_EQ(e.status(), 400);
        }
    }
}

// Issue 16 item 16: echo with logprobs would need the prompt's logprobs, which sluice does
// not compute: a clear 400 rather than a response without them.
TEST(request, echo_with_logprobs_is_refused) {
    try {
        parse_completion_request(R"({"model":"m","prompt":"x","echo":true,"logprobs":1})");
        ADD_FAILURE() << "accepted";
    } catch (const api_error & e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_EQ(e.param(), "echo");
    }
    EXPECT_TRUE(parse_completion_request(R"({"model":"m","prompt":"x","echo":true})").echo);
    EXPECT_EQ(parse_completion_request(R"({"model":"m","prompt":"x","logprobs":1})").gen.top_logprobs, 1);
}

}  // namespace
}  // namespace sluice::server
