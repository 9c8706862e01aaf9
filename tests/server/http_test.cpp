// The HTTP API end to end over loopback with the tiny model: response shapes, SSE framing,
// exact usage, and every error case with its status and OpenAI's error body.
#include "server/http_server.h"
#include "server_test_util.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <thread>

namespace sluice::server {
namespace {

using json = nlohmann::json;

class http_test : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        server_options o;
        o.port                          = 0;
        o.model_id                      = "tiny";
        o.sched.n_slots                 = 2;
        o.sched.max_queue               = 4;
        o.sched.session.n_ctx           = 64;
        o.defaults.sampling.temperature = 0.0f;
        server_                         = new http_server(test::tiny_engine(), o);
        port_                           = server_->bind();
        thread_                         = new std::thread([] { server_->listen(); });
    }
    static void TearDownTestSuite() {
        server_->stop();
        thread_->join();
        delete thread_;
        delete server_;
    }

    static httplib::Client client() {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(30, 0);
        return c;
    }
    static httplib::Result post(const std::string & path, const std::string & body) {
        return client().Post(path.c_str(), body, "application/json");
    }
    // Asserts status, OpenAI's error shape, and the parameter/code when given.
    static void expect_error(const httplib::Result & r, int status, const std::string & param = "",
                             const std::string & code = "") {
        ASSERT_TRUE(r) << "no response";
        EXPECT_EQ(r->status, status) << r->body;
        const json j = json::parse(r->body);
        ASSERT_TRUE(j.contains("error")) << r->body;
        EXPECT_TRUE(j["error"]["message"].is_string());
        EXPECT_TRUE(j["error"]["type"].is_string());
        if (!param.empty()) {
            EXPECT_EQ(j["error"]["param"], param) << r->body;
        }
        if (!code.empty()) {
            EXPECT_EQ(j["error"]["code"], code) << r->body;
        }
    }

    static inline http_server * server_ = nullptr;
    static inline std::thread * thread_ = nullptr;
    static inline int           port_   = 0;
};

const std::string hello = R"("messages":[{"role":"user","content":"def fibonacci(n):"}])";

TEST_F(http_test, chat_completion) {
    auto r = post("/v1/chat/completions", R"({"model":"tiny",)" + hello + R"(,"max_tokens":5,"ignored_field":1})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["model"], "tiny");
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
    const std::string finish = j["choices"][0]["finish_reason"];
    EXPECT_TRUE(finish == "stop" || finish == "length");
    EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 5);
    EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 5);
    EXPECT_EQ(j["usage"]["total_tokens"].get<int>(),
              j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());
}

TEST_F(http_test, completion_with_ids_counts_usage_exactly) {
    auto r = post("/v1/completions", R"({"model":"tiny","prompt":[1,629,282],"max_tokens":7,"logprobs":2})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
    const int n = j["usage"]["completion_tokens"];
    EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"].size(), static_cast<size_t>(n));
    EXPECT_EQ(j["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
    if (j["choices"][0]["finish_reason"] == "length") {
        EXPECT_EQ(n, 7);
    }
}

TEST_F(http_test, streaming_sends_sse_ending_in_done) {
    auto r =
        post("/v1/chat/completions", R"({"model":"tiny",)" + hello +
                                         R"(,"max_tokens":6,"stream":true,"stream_options":{"include_usage":true}})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
    const std::string & b = r->body;
    ASSERT_GE(b.size(), 20u);
    EXPECT_EQ(b.substr(b.size() - 14), "data: [DONE]\n\n");
    // Every event is "data: <json>\n\n"; the role comes first, usage last (no choices).
    std::vector<json> events;
    size_t            pos = 0;
    while (pos < b.size()) {
        ASSERT_EQ(b.compare(pos, 6, "data: "), 0) << b.substr(pos);
        const size_t end = b.find("\n\n", pos);
        ASSERT_NE(end, std::string::npos);
        const std::string data = b.substr(pos + 6, end - pos - 6);
        if (data != "[DONE]") {
            events.push_back(json::parse(data));
        }
        pos = end + 2;
    }
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
    EXPECT_TRUE(events.front()["usage"].is_null());
    const json & usage_chunk = events.back();
    EXPECT_TRUE(usage_chunk["choices"].empty());
    const json & last = events[events.size() - 2];
    EXPECT_FALSE(last["choices"][0]["finish_reason"].is_null());
    int text_chunks = 0;
    for (size_t i = 1; i + 2 < events.size(); ++i) {
        EXPECT_EQ(events[i]["object"], "chat.completion.chunk");
        ++text_chunks;
    }
    EXPECT_LE(text_chunks, usage_chunk["usage"]["completion_tokens"].get<int>());
}

TEST_F(http_test, models_health_metrics) {
    auto m = client().Get("/v1/models");
    ASSERT_TRUE(m);
    EXPECT_EQ(json::parse(m->body)["data"][0]["id"], "tiny");
    auto one = client().Get("/v1/models/tiny");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->status, 200);
    expect_error(client().Get("/v1/models/other"), 404, "model", "model_not_found");
    auto h = client().Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(json::parse(h->body)["status"], "ok");
    auto p = client().Get("/metrics");
    ASSERT_TRUE(p);
    for (const char * name : {"sluice_requests_total", "sluice_prompt_tokens_total", "sluice_completion_tokens_total",
                              "sluice_time_to_first_token_seconds_bucket", "sluice_decode_tokens_per_second",
                              "sluice_queue_depth", "sluice_expert_cache_hit_rate", "sluice_disk_read_bytes_total",
                              "sluice_http_responses_total{path=\"/v1/models\",status=\"200\"}"}) {
        EXPECT_NE(p->body.find(name), std::string::npos) << name;
    }
}

TEST_F(http_test, errors) {
    expect_error(post("/v1/chat/completions", "{not json"), 400, "", "invalid_json");
    expect_error(post("/v1/chat/completions", "[]"), 400, "", "invalid_json");
    expect_error(
        post("/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"\xFF\"}]}"),
        400, "", "invalid_utf8");
    expect_error(post("/v1/chat/completions", R"({"model":"tiny",)" + hello + R"(,"temperature":"hot"})"), 400,
                 "temperature", "invalid_type");
    expect_error(post("/v1/chat/completions", R"({"model":"tiny","messages":"hi"})"), 400, "messages");
    expect_error(post("/v1/chat/completions", R"({"model":"gpt-9",)" + hello + "}"), 404, "model", "model_not_found");
    expect_error(post("/v1/chat/completions", R"({"model":"tiny",)" + hello + R"(,"max_tokens":0})"), 400,
                 "max_tokens");
    expect_error(post("/v1/chat/completions", R"({"model":"tiny",)" + hello + R"(,"max_tokens":60})"), 400,
                 "max_tokens", "context_length_exceeded");
    expect_error(post("/v1/chat/completions", R"({"model":"tiny",)" + hello + R"(,"n":3})"), 400, "n");
    std::string long_prompt(400, 'x');
    expect_error(post("/v1/completions", R"({"model":"tiny","prompt":")" + long_prompt + R"("})"), 400, "",
                 "context_length_exceeded");
    expect_error(post("/v1/completions", R"({"model":"tiny","prompt":[1,5000]})"), 400, "prompt");
    expect_error(post("/v1/completions", R"({"model":"tiny","prompt":{}})"), 400, "prompt");
    expect_error(client().Get("/v1/nothing"), 404);
    expect_error(client().Get("/v1/chat/completions"), 404);
    // The server is still there and answers normally.
    auto ok = post("/v1/completions", R"({"model":"tiny","prompt":"def","max_tokens":2})");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

TEST(http_auth, api_key_is_required) {
    server_options o;
    o.port                = 0;
    o.api_key             = "sekrit";
    o.sched.session.n_ctx = 32;
    http_server     srv(test::tiny_engine(), o);
    const int       port = srv.bind();
    std::thread     t([&] { srv.listen(); });
    httplib::Client c("127.0.0.1", port);
    auto            none = c.Get("/v1/models");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    EXPECT_EQ(nlohmann::json::parse(none->body)["error"]["code"], "invalid_api_key");
    auto wrong = c.Get("/v1/models", {{"Authorization", "Bearer nope"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto right = c.Get("/v1/models", {{"Authorization", "Bearer sekrit"}});
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200);
    auto health = c.Get("/health");  // for load balancers: open
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    srv.stop();
    t.join();
}

}  // namespace
}  // namespace sluice::server
