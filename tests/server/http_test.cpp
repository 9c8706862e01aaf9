// The HTTP API end to end over loopback with the tiny model: response shapes, SSE framing,
// exact usage, and every error case with its status and OpenAI's error body.
#include "engine/routing_recorder.h"
#include "gguf/gguf.h"
#include "server/http_server.h"
#include "server_test_util.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

namespace sluice::server {
namespace {

using json = nlohmann::json;

// A raw loopback connection, for what no HTTP client sends.
struct raw_conn {
    int fd = -1;
    explicit raw_conn(int port) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family      = AF_INET;
        a.sin_port        = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
            ::close(fd);
            fd = -1;
        }
    }
    ~raw_conn() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    bool send_all(const std::string & s) const {
        size_t off = 0;
        while (off < s.size()) {
            const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            off += static_cast<size_t>(n);
        }
        return true;
    }
    // Everything until the peer closes, or until `limit` passes (a generous liveness bound).
    std::string read_all(std::chrono::seconds limit) const {
        std::string out;
        const auto  end = std::chrono::steady_clock::now() + limit;
        char        buf[4096];
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
            pollfd p{fd, POLLIN, 0};
            if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
                return out;
            }
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                return out;
            }
            out.append(buf, static_cast<size_t>(n));
        }
    }
};

int64_t rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string   line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoll(line.substr(6));
        }
    }
    return -1;
}

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

// llama-server's utilities. The ids of "def fibonacci(n):\n" are the fixture README's for the
// sp4096 vocabulary (BOS 1 first with add_special); the tiny model has no chat template, so
// the prompt is chatml's.
TEST_F(http_test, tokenize_detokenize_apply_template) {
    auto r = post("/tokenize", R"({"content":"def fibonacci(n):\n","add_special":true})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["tokens"], json({1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13}));

    r = post("/tokenize", R"({"content":"def f","with_pieces":true})");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["tokens"], json::parse(R"([{"id":629,"piece":" def"},{"id":282,"piece":" f"}])"));

    // control-token text: a control token by default, its characters with parse_special off
    const auto n_tokens = [&](const std::string & body) {
        auto res = post("/tokenize", body);
        return res ? json::parse(res->body)["tokens"].size() : size_t{0};
    };
    EXPECT_EQ(n_tokens(R"({"content":"</s>"})"), 1u);
    EXPECT_GT(n_tokens(R"({"content":"</s>","parse_special":false})"), 1u);

    r = post("/detokenize", R"({"tokens":[629,282,722,264,330,4010,4002,4029,4003,500,13]})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["content"], "def fibonacci(n):\n");

    r = post("/apply-template",
             R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["prompt"],
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");

    expect_error(post("/tokenize", "{}"), 400, "content", "missing_required_parameter");
    expect_error(post("/tokenize", R"({"content":3})"), 400, "content");
    expect_error(post("/detokenize", R"({"tokens":[1,4096]})"), 400, "tokens", "invalid_value");
    expect_error(post("/detokenize", R"({"tokens":"1"})"), 400, "tokens");
    expect_error(post("/apply-template", R"({"messages":"hi"})"), 400, "messages");
    expect_error(client().Get("/tokenize"), 405, "", "method_not_allowed");
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
    expect_error(post("/v1/completions", R"({"model":"tiny","prompt":"x","echo":true,"logprobs":1})"), 400, "echo");
    // The server is still there and answers normally.
    auto ok = post("/v1/completions", R"({"model":"tiny","prompt":"def","max_tokens":2})");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

// "sluice": {"return_routed_experts": true} returns, per generated token, the experts and
// weights of the forward pass that produced it; they equal what an observer of the same
// greedy generation in a session of its own records (a second engine on the same file).
TEST_F(http_test, routed_experts_and_routing_controls_per_request) {
    const std::vector<int32_t> prompt = {1, 629, 282};
    auto r = post("/v1/completions", R"({"model":"tiny","prompt":[1,629,282],"max_tokens":4,"temperature":0,)"
                                     R"("sluice":{"return_routed_experts":true}})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json routed = json::parse(r->body)["choices"][0]["sluice"]["routed_experts"];
    ASSERT_EQ(routed.size(), 4u) << r->body;

    engine_options eo;
    eo.model_path = test::data_path("tiny-qwen3moe-f32.gguf");
    eo.n_threads  = 1;
    engine          e(eo);
    session_options so;
    so.n_ctx = 64;  // the server's F16 cache
    session          s(e, so);
    routing_recorder rec(static_cast<int>(e.hparams().n_layer));
    s.eval(prompt, &rec);
    sampler greedy({.temperature = 0.0f});
    for (size_t t = 0; t < routed.size(); ++t) {
        const size_t pos = prompt.size() - 1 + t;  // the position whose logits chose token t
        ASSERT_EQ(routed[t].size(), static_cast<size_t>(e.hparams().n_layer));
        for (size_t l = 0; l < routed[t].size(); ++l) {
            EXPECT_EQ(routed[t][l]["layer"], l);
            EXPECT_EQ(routed[t][l]["experts"].get<std::vector<int32_t>>(), rec.experts.at(pos).at(l)) << t << " " << l;
            const auto w = routed[t][l]["weights"].get<std::vector<float>>();
            ASSERT_EQ(w.size(), rec.weights[pos][l].size());
            for (size_t j = 0; j < w.size(); ++j) {
                EXPECT_NEAR(w[j], rec.weights[pos][l][j], 1e-6);
            }
        }
        const int32_t next[1] = {greedy.sample(s.logits(), s.history())};
        s.eval(next, &rec);
    }

    // A control for this request only: one expert per token, and the next request is exact again.
    r = post("/v1/completions", R"({"model":"tiny","prompt":[1,629,282],"max_tokens":2,)"
                                R"("sluice":{"moe_top_k":1,"expert_mask":"*:3","return_routed_experts":true}})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json one_expert = json::parse(r->body);  // kept alive: the loop walks into it
    for (const json & token : one_expert["choices"][0]["sluice"]["routed_experts"]) {
        for (const json & layer : token) {
            ASSERT_EQ(layer["experts"].size(), 1u);
            EXPECT_NE(layer["experts"][0], 3);
        }
    }
    r = post("/v1/completions",
             R"({"model":"tiny","prompt":[1,629,282],"max_tokens":1,"sluice":{"return_routed_experts":true}})");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["choices"][0]["sluice"]["routed_experts"][0][0]["experts"].size(), 2u);

    // Bad controls are 400s naming the field.
    const auto with = [](const std::string & sx) {
        return R"({"model":"tiny","prompt":[1,629],"max_tokens":1,"sluice":)" + sx + "}";
    };
    expect_error(post("/v1/completions", with(R"({"moe_top_p":1.5})")), 400, "moe_top_p");
    expect_error(post("/v1/completions", with(R"({"moe_top_k":"two"})")), 400, "moe_top_k");
    expect_error(post("/v1/completions", with(R"({"moe_top_k":9})")), 400, "sluice");  // 8 experts
    expect_error(post("/v1/completions", with(R"({"expert_mask":"*:0-7"})")), 400, "sluice");
    expect_error(post("/v1/completions", with(R"({"expert_mask":"@/etc/passwd"})")), 400, "expert_mask");
    expect_error(post("/v1/completions", with(R"({"expert_steer":[{"layer":0}]})")), 400, "expert_steer");
    expect_error(post("/v1/completions", with(R"({"expert_steer":[{"layer":7,"expert":0,"offset":1}]})")), 400,
                 "sluice");
    expect_error(post("/v1/completions", with("[]")), 400, "sluice");
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

// Issue 16 item 16: a known path with the wrong method is 405 with Allow, not 404.
TEST_F(http_test, wrong_method_is_405_with_allow) {
    auto g = client().Get("/v1/chat/completions");
    expect_error(g, 405, "", "method_not_allowed");
    EXPECT_EQ(g->get_header_value("Allow"), "POST");
    auto p = post("/health", "{}");
    expect_error(p, 405, "", "method_not_allowed");
    EXPECT_EQ(p->get_header_value("Allow"), "GET, HEAD");
    expect_error(client().Get("/v1/nothing"), 404);
}

// Issue 16 items 1 and 6 over HTTP: 400 in OpenAI's shape, and the server lives on.
TEST_F(http_test, deep_nesting_and_huge_numbers_are_400) {
    const std::string deep(130000, '[');
    expect_error(post("/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":"hi","x":)" +
                                                  deep + std::string(130000, ']') + "}]}"),
                 400, "", "invalid_json");
    expect_error(post("/v1/chat/completions", R"({"model":"tiny",)" + hello + R"(,"temperature":1e309})"), 400, "",
                 "invalid_json");
    expect_error(post("/v1/completions", R"({"model":"tiny","prompt":"x","seed":)" + std::string(400, '7') + "}"), 400,
                 "", "invalid_json");
    auto h = client().Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
}

// Issue 16 item 4: a prompt far too long for the context is refused by its byte count.
TEST_F(http_test, a_prompt_too_long_in_bytes_is_refused_before_tokenizing) {
    const std::string big(200000, 'x');
    auto              r = post("/v1/completions", R"({"model":"tiny","prompt":")" + big + R"("})");
    expect_error(r, 400, "prompt", "context_length_exceeded");
    EXPECT_NE(r->body.find("bytes"), std::string::npos) << r->body;
    auto c =
        post("/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":")" + big + R"("}]})");
    expect_error(c, 400, "messages", "context_length_exceeded");
    EXPECT_NE(c->body.find("bytes"), std::string::npos) << c->body;
}

// Issue 16 item 10: the text is the generated tokens' bytes, the first one's leading space
// included (the logprobs list the same tokens, each with its bytes).
TEST_F(http_test, completion_text_keeps_the_first_tokens_space) {
    auto r = post("/v1/completions", R"({"model":"tiny","prompt":[1,629,282],"max_tokens":6,"logprobs":0})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json  j = json::parse(r->body);
    std::string joined;
    for (const auto & t : j["choices"][0]["logprobs"]["tokens"]) {
        joined += t.get<std::string>();
    }
    EXPECT_EQ(j["choices"][0]["text"], joined);
    // And with echo, the prompt's text then the generated text, nothing dropped between.
    auto e = post("/v1/completions", R"({"model":"tiny","prompt":[1,629,282],"max_tokens":6,"echo":true})");
    ASSERT_TRUE(e);
    ASSERT_EQ(e->status, 200) << e->body;
    EXPECT_EQ(json::parse(e->body)["choices"][0]["text"], "def f" + joined);
}

// Issue 16 item 2: cpp-httplib 0.11 read chunked bodies without the size limit (400 MB took
// 2.1 GB). They are refused on their head, before any of the body is read.
TEST_F(http_test, chunked_bodies_are_refused_unread) {
    raw_conn c(port_);
    ASSERT_GE(c.fd, 0);
    const int64_t     rss0 = rss_kib();
    std::atomic<int>  sent_mib{0};
    std::thread       sender([&] {
        std::string head =
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n";
        if (!c.send_all(head)) {
            return;
        }
        const std::string chunk = "100000\r\n" + std::string(0x100000, ' ') + "\r\n";  // 1 MiB
        for (int i = 0; i < 48 && c.send_all(chunk); ++i) {
            sent_mib = i + 1;
        }
    });
    const std::string reply = c.read_all(std::chrono::seconds(30));
    sender.join();
    EXPECT_TRUE(reply.rfind("HTTP/1.1 411", 0) == 0 || reply.rfind("HTTP/1.1 413", 0) == 0) << reply.substr(0, 200);
    EXPECT_NE(reply.find("\"error\""), std::string::npos);
    EXPECT_LT(sent_mib.load(), 48) << "the server read the whole body";
    EXPECT_LT(rss_kib() - rss0, 16 * 1024) << "RSS grew by the body";
    // A body without any length is refused too; with a length over the limit, 413.
    raw_conn n(port_);
    ASSERT_TRUE(n.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n{}"));
    EXPECT_EQ(n.read_all(std::chrono::seconds(30)).substr(0, 12), "HTTP/1.1 411");
    raw_conn l(port_);
    ASSERT_TRUE(l.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 900000000\r\n\r\n{}"));
    EXPECT_EQ(l.read_all(std::chrono::seconds(30)).substr(0, 12), "HTTP/1.1 413");
}

// Issue 16 item 3: clients that send their headers a line at a time held every HTTP thread,
// and /health stopped answering. Heads are now read without holding a thread.
TEST_F(http_test, slow_headers_hold_no_thread) {
    std::vector<std::unique_ptr<raw_conn>> slow;
    for (int i = 0; i < 60; ++i) {  // the fixture has 10 HTTP threads
        slow.push_back(std::make_unique<raw_conn>(port_));
        ASSERT_GE(slow.back()->fd, 0);
        ASSERT_TRUE(slow.back()->send_all("GET /health HTTP/1.1\r\n"));
    }
    std::atomic<bool> done{false};
    std::thread       trickle([&] {
        for (int line = 0; !done; ++line) {
            for (auto & c : slow) {
                c->send_all("X-Slow-" + std::to_string(line) + ": 1\r\n");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int i = 0; i < 3; ++i) {
        httplib::Client h("127.0.0.1", port_);
        h.set_read_timeout(5, 0);
        h.set_connection_timeout(5, 0);
        auto r = h.Get("/health");
        ASSERT_TRUE(r) << "no answer within 5 s";
        EXPECT_EQ(r->status, 200);
        auto m = post("/v1/completions", R"({"model":"tiny","prompt":"def","max_tokens":2})");
        ASSERT_TRUE(m);
        EXPECT_EQ(m->status, 200);
    }
    done = true;
    trickle.join();
}

// A client that waits for 100 Continue gets it (once) and then its answer.
TEST_F(http_test, expect_100_continue) {
    raw_conn          c(port_);
    const std::string body = R"({"model":"tiny","prompt":"def","max_tokens":2})";
    ASSERT_TRUE(c.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
    char   buf[64] = {};
    pollfd p{c.fd, POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 30000), 0);
    const ssize_t n = ::recv(c.fd, buf, sizeof buf - 1, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(c.send_all(body));
    const std::string reply = c.read_all(std::chrono::seconds(30));
    EXPECT_EQ(reply.substr(0, 15), "HTTP/1.1 200 OK") << reply;
    EXPECT_EQ(reply.find("100 Continue"), std::string::npos) << reply;
}

TEST(http_guard, a_head_not_complete_in_time_gets_408) {
    server_options o;
    o.port                = 0;
    o.sched.session.n_ctx = 32;
    o.head_timeout        = std::chrono::milliseconds(500);
    http_server srv(test::tiny_engine(), o);
    const int   port = srv.bind();
    std::thread t([&] { srv.listen(); });
    raw_conn    c(port);
    ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\n"));
    const std::string reply = c.read_all(std::chrono::seconds(30));  // ends when the server closes
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 408") << reply;
    raw_conn big(port);
    ASSERT_TRUE(big.send_all("GET /health HTTP/1.1\r\nX: " + std::string(64 << 10, 'a')));
    EXPECT_EQ(big.read_all(std::chrono::seconds(30)).substr(0, 12), "HTTP/1.1 431");
    httplib::Client h("127.0.0.1", port);
    auto            ok = h.Get("/health");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    srv.stop();
    t.join();
}

TEST(http_guard, bad_ports_are_refused) {
    for (int port : {99999, -1, 65536}) {
        server_options o;
        o.port                = port;
        o.sched.session.n_ctx = 32;
        http_server srv(test::tiny_engine(), o);
        EXPECT_THROW(srv.bind(), error) << port;
    }
}

// A non-streamed request waits for its job before answering; a client that leaves meanwhile
// cancels it, and its slot frees long before the generation would have ended.
TEST(http_guard, a_client_that_leaves_a_whole_reply_frees_its_slot) {
    server_options o;
    o.port                = 0;
    o.model_id            = "tiny";
    o.sched.n_slots       = 1;
    o.sched.session.n_ctx = 4096;
    o.defaults.ignore_eos = true;
    http_server srv(test::tiny_engine(), o);
    const int   port = srv.bind();
    std::thread t([&] { srv.listen(); });
    // Far more tokens than the tiny model decodes in the time the client stays (it runs
    // thousands per second; with 1000 the reply could finish first on a fast machine).
    const std::string body = R"({"model":"tiny","prompt":"def","max_tokens":4000})";
    {
        raw_conn c(port);
        ASSERT_TRUE(
            c.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }  // closed, 100 ms into four thousand tokens
    httplib::Client h("127.0.0.1", port);
    const auto      t0 = std::chrono::steady_clock::now();
    std::string     m;
    for (;;) {
        auto r = h.Get("/metrics");
        ASSERT_TRUE(r);
        m = r->body;
        if (m.find("\nsluice_slots_busy 0\n") != std::string::npos) {
            break;
        }
        ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "slot still busy:\n" << m;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(m.find("sluice_requests_total{result=\"cancelled\"} 1\n"), std::string::npos) << m;
    srv.stop();
    t.join();
}

// A request that fails after it was accepted (here: every forward pass of a model with NaN
// weights fails) answers an error status with OpenAI's error body, not 200 with an error in
// it (issue 16 item 16); a stream, whose status line is out, ends with an error event.
TEST(http_errors, a_request_that_fails_midway_answers_500) {
    const std::string path = (std::filesystem::temp_directory_path() / "sluice-http-nan.gguf").string();
    {
        const gguf_file    in = gguf_file::open(test::data_path("tiny-qwen3moe-f32.gguf"));
        gguf_writer        w;
        std::vector<float> nan_norm;
        for (const gguf_kv & kv : in.metadata()) {
            w.set_value(std::string(kv.key), kv.value);
        }
        for (const gguf_tensor & t : in.tensors()) {
            if (t.name == "output_norm.weight") {
                nan_norm.assign(static_cast<size_t>(t.ne[0]), std::nanf(""));
                w.add_tensor(std::string(t.name), ggml_type::F32, {t.ne[0]}, nan_norm.data(), nan_norm.size() * 4);
            } else {
                w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
            }
        }
        w.write(path);
    }
    engine_options eo;
    eo.model_path = path;
    eo.n_threads  = 1;
    engine         e(eo);
    server_options o;
    o.port                = 0;
    o.model_id            = "tiny";
    o.sched.session.n_ctx = 64;
    http_server     srv(e, o);
    const int       port = srv.bind();
    std::thread     t([&] { srv.listen(); });
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    for (const char * route : {"/v1/completions", "/v1/chat/completions"}) {
        const std::string body = std::string(route) == "/v1/completions"
                                     ? R"({"model":"tiny","prompt":"def","max_tokens":4})"
                                     : R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4})";
        auto              r    = c.Post(route, body, "application/json");
        ASSERT_TRUE(r) << route;
        EXPECT_EQ(r->status, 500) << route << ": " << r->body;
        const json j = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
        EXPECT_EQ(j["error"]["type"], "server_error") << r->body;
        EXPECT_NE(j["error"]["message"].get<std::string>().find("non-finite"), std::string::npos) << r->body;
    }
    auto s = c.Post("/v1/completions", R"({"model":"tiny","prompt":"def","max_tokens":4,"stream":true})",
                    "application/json");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->status, 200);
    EXPECT_NE(s->body.find("non-finite"), std::string::npos) << s->body;
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    srv.stop();
    t.join();
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace sluice::server
