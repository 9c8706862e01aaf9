#include "server/http_server.h"

#include "gguf/split.h"
#include "server/http_guard.h"
#include "server/request.h"
#include "server/response.h"
#include "server/sse.h"
#include "util/error.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>

namespace sluice::server {
namespace {

enum class endpoint { CHAT, COMPLETION };

// What one response carries between calls of its content provider.
struct reply_state {
    std::shared_ptr<job_channel> ch;
    response_meta                meta;
    bool                         chat          = true;
    bool                         stream        = false;
    bool                         include_usage = false;
    int                          top_logprobs  = -1;
    std::string                  text;  // non-streamed: everything so far (after the echo)
    std::vector<token_logprob>   logprobs;
    int64_t                      text_bytes = 0;      // streamed completions: offset of the next token
    bool                         routed     = false;  // "sluice": {"return_routed_experts": true}
    std::vector<routed_token>    routed_tokens;       // non-streamed: every token's so far
};

// Adds choices[0].sluice.routed_experts to a response or chunk.
ojson with_routed(ojson body, const std::vector<routed_token> & tokens) {
    body["choices"][0]["sluice"] = {{"routed_experts", routed_experts_json(tokens)}};
    return body;
}

void send_error(httplib::Response & res, const api_error & e) {
    res.status = e.status();
    res.set_content(dump_json(e.to_json()), "application/json");
}

// Paths with bounded cardinality for the metrics label.
std::string path_label(const std::string & path) {
    for (const char * p : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/tokenize",
                           "/detokenize", "/apply-template"}) {
        if (path == p) {
            return p;
        }
    }
    return path.rfind("/v1/models/", 0) == 0 ? "/v1/models/{id}" : "other";
}

bool same_secret(const std::string & a, const std::string & b) {  // no early exit on the first difference
    unsigned diff = static_cast<unsigned>(a.size() ^ b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    }
    return diff == 0;
}

// The methods a known path answers (for 405 and its Allow header); nullptr for unknown paths.
const char * allowed_methods(const std::string & path) {
    if (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/tokenize" || path == "/detokenize" ||
        path == "/apply-template") {
        return "POST";
    }
    if (path == "/health" || path == "/metrics" || path == "/v1/models" || path.rfind("/v1/models/", 0) == 0) {
        return "GET, HEAD";
    }
    return nullptr;
}

// Content-Length as a number: -1 when absent, repeated or not plain decimal digits (httplib
// would read "12abc" as 12).
int64_t content_length(const httplib::Request & req) {
    if (req.get_header_value_count("Content-Length") != 1) {
        return -1;
    }
    const std::string v = req.get_header_value("Content-Length");
    if (v.empty() || v.size() > 18) {
        return -1;
    }
    int64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') {
            return -1;
        }
        n = n * 10 + (c - '0');
    }
    return n;
}

// The file's name less .gguf; a split model's less its part suffix too (m-00001-of-00003: m).
std::string default_model_id(const engine & e) {
    std::string       id     = std::filesystem::path(e.file().path()).stem().string();
    const uint32_t    parts  = static_cast<uint32_t>(e.file().n_parts());
    const std::string tail   = split_part_path("", 0, parts);  // "-00001-of-0000N.gguf"
    const std::string suffix = tail.substr(0, tail.size() - 5);
    if (parts > 1 && id.ends_with(suffix)) {
        id.resize(id.size() - suffix.size());
    }
    return id;
}

}  // namespace

struct http_server::impl {
    impl(engine & e, const server_options & o)
        : eng(e),
          opt(o),
          prompts(e, o.chat_template),
          sched(e, o.sched, metrics),
          model_id(o.model_id.empty() ? default_model_id(e) : o.model_id),
          created(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                      .count()),
          srv(limits(o)) {
        // httplib's own queue only hands accepted sockets to the guard's reactor.
        srv.new_task_queue = [] { return new httplib::ThreadPool(1); };
        srv.set_payload_max_length(opt.max_body);
        srv.set_tcp_nodelay(true);  // one small write per token: Nagle + delayed ACKs would add ~40 ms to each
        routes();
    }

    void routes();
    void generate(const httplib::Request & req, httplib::Response & res, endpoint kind);
    // A JSON answer, or the api_error it threw.
    void utility(httplib::Response & res, const std::function<ojson()> & answer);
    bool write_stream(reply_state & st, httplib::DataSink & sink);
    void answer_whole(reply_state & st, httplib::Response & res);
    void check_model(const std::string & name) const {
        if (name != model_id) {
            throw api_error(404, fmt::format("The model '{}' does not exist. This server serves '{}'.", name, model_id),
                            "invalid_request_error", "model", "model_not_found");
        }
    }
    ojson model_card() const {
        return {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "sluice"}};
    }

    static guard_limits limits(const server_options & o) {
        guard_limits l;
        l.max_body     = o.max_body;
        l.head_timeout = o.head_timeout;
        l.workers      = o.http_threads > 0 ? o.http_threads : o.sched.n_slots + o.sched.max_queue + 4;
        return l;
    }

    std::atomic<bool> stopping{false};  // first: handlers read it until srv's workers are gone
    engine &          eng;
    server_options    opt;
    server_metrics    metrics;
    prompt_builder    prompts;
    scheduler         sched;
    std::string       model_id;
    int64_t           created;
    guarded_server    srv;  // last: its workers run handlers that use everything above
};

void http_server::impl::routes() {
    // Runs after the head is read and before httplib reads any body: framing and size are
    // checked here so that no body is read that could not be bounded, then the method, then
    // the API key. A refused request's body stays unread, so its connection is closed.
    srv.set_pre_routing_handler([this](const httplib::Request & req, httplib::Response & res) {
        using hr              = httplib::Server::HandlerResponse;
        const bool has_length = req.has_header("Content-Length");
        const auto length     = content_length(req);
        const bool has_body   = req.has_header("Transfer-Encoding") || (has_length && length != 0);
        const bool reads_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
                                req.method == "DELETE" || req.method == "PRI";
        const auto refuse = [&](const api_error & e) {
            send_error(res, e);
            if (has_body || (reads_body && !has_length)) {  // what follows the head is unknown
                res.set_header("Connection", "close");
                close_after_response();
            }
            return hr::Handled;
        };
        if (has_body && !reads_body) {
            close_after_response();  // httplib leaves a GET's body unread
        }
        if (req.has_header("Transfer-Encoding")) {
            // cpp-httplib 0.11 would read a chunked body with no size limit.
            return refuse(api_error(411,
                                    "Chunked (Transfer-Encoding) request bodies are not accepted: send the body "
                                    "with a Content-Length.",
                                    "invalid_request_error", "", "length_required"));
        }
        if (reads_body && !has_length) {
            return refuse(api_error(411, "A request body needs a Content-Length header.", "invalid_request_error", "",
                                    "length_required"));
        }
        if (reads_body && length < 0) {
            return refuse(api_error(400, "The Content-Length header is not a valid length.", "invalid_request_error",
                                    "", "invalid_content_length"));
        }
        if (reads_body && static_cast<uint64_t>(length) > opt.max_body) {
            return refuse(api_error(
                413, fmt::format("The request body is too large ({} bytes; at most {}).", length, opt.max_body),
                "invalid_request_error", "", "payload_too_large"));
        }
        if (const char * allowed = allowed_methods(req.path);
            allowed != nullptr &&
            fmt::format(", {},", allowed).find(fmt::format(", {},", req.method)) == std::string::npos) {
            res.set_header("Allow", allowed);
            return refuse(api_error(
                405, fmt::format("Method {} is not allowed on {} (allowed: {}).", req.method, req.path, allowed),
                "invalid_request_error", "", "method_not_allowed"));
        }
        if (opt.api_key.empty() || req.path == "/health") {
            return hr::Unhandled;
        }
        if (!same_secret(req.get_header_value("Authorization"), "Bearer " + opt.api_key)) {
            return refuse(api_error(401, "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.",
                                    "invalid_request_error", "", "invalid_api_key"));
        }
        return hr::Unhandled;
    });
    // Anything that ends in an error without a body (no route: 404, body too large: 413, ...)
    // still answers in OpenAI's shape.
    srv.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request & req, httplib::Response & res) {
            if (!res.body.empty() || res.is_chunked_content_provider_) {
                return httplib::Server::HandlerResponse::Unhandled;
            }
            const std::string msg = res.status == 404 ? fmt::format("Unknown request URL: {} {}.", req.method, req.path)
                                    : res.status == 413
                                        ? std::string("The request body is too large.")
                                        : fmt::format("The request failed with HTTP status {}.", res.status);
            send_error(res, api_error(res.status, msg, res.status >= 500 ? "server_error" : "invalid_request_error"));
            return httplib::Server::HandlerResponse::Handled;
        }));
    srv.set_exception_handler([](const httplib::Request &, httplib::Response & res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception & e) {
            what = e.what();
        } catch (...) {
        }
        send_error(res, api_error(500, "Internal error: " + what, "server_error"));
    });
    srv.set_logger([this](const httplib::Request & req, const httplib::Response & res) {
        metrics.on_http(path_label(req.path), res.status);
    });

    srv.Get("/health", [](const httplib::Request &, httplib::Response & res) {
        res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    srv.Get("/metrics", [this](const httplib::Request &, httplib::Response & res) {
        res.set_content(metrics.render(sched.gauges()), "text/plain; version=0.0.4; charset=utf-8");
    });
    srv.Get("/v1/models", [this](const httplib::Request &, httplib::Response & res) {
        res.set_content(dump_json(ojson{{"object", "list"}, {"data", ojson::array({model_card()})}}),
                        "application/json");
    });
    srv.Get(R"(/v1/models/(.+))", [this](const httplib::Request & req, httplib::Response & res) {
        try {
            check_model(req.matches[1].str());
            res.set_content(dump_json(model_card()), "application/json");
        } catch (const api_error & e) {
            send_error(res, e);
        }
    });
    srv.Post("/v1/chat/completions",
             [this](const httplib::Request & req, httplib::Response & res) { generate(req, res, endpoint::CHAT); });
    srv.Post("/v1/completions", [this](const httplib::Request & req, httplib::Response & res) {
        generate(req, res, endpoint::COMPLETION);
    });
    // llama-server's utilities, for clients that check what the model will see.
    srv.Post("/tokenize", [this](const httplib::Request & req, httplib::Response & res) {
        utility(res, [&] {
            const tokenize_request r      = parse_tokenize_request(req.body);
            const tokenizer &      tok    = eng.require_tokenizer();
            ojson                  tokens = ojson::array();
            for (int32_t id : tok.encode(r.content, r.add_special, r.parse_special)) {
                if (!r.with_pieces) {
                    tokens.push_back(id);
                    continue;
                }
                const std::string bytes = tok.token_bytes(id, true);
                ojson             piece = is_valid_utf8(bytes) ? ojson(bytes) : ojson::array();
                if (!piece.is_string()) {  // half a character: its bytes, as llama-server sends them
                    for (unsigned char b : bytes) {
                        piece.push_back(b);
                    }
                }
                tokens.push_back(ojson{{"id", id}, {"piece", std::move(piece)}});
            }
            return ojson{{"tokens", std::move(tokens)}};
        });
    });
    srv.Post("/detokenize", [this](const httplib::Request & req, httplib::Response & res) {
        utility(res, [&] {
            const std::vector<int32_t> ids = parse_detokenize_request(req.body);
            const tokenizer &          tok = eng.require_tokenizer();
            for (int32_t id : ids) {
                if (id >= tok.n_vocab()) {
                    throw bad_param("tokens",
                                    fmt::format("Invalid 'tokens': token id {} is outside the vocabulary of {}.", id,
                                                tok.n_vocab()),
                                    "invalid_value");
                }
            }
            return ojson{{"content", tok.decode(ids)}};  // bytes that are not UTF-8 go out as U+FFFD
        });
    });
    srv.Post("/apply-template", [this](const httplib::Request & req, httplib::Response & res) {
        utility(res, [&] { return ojson{{"prompt", prompts.text(parse_apply_template_request(req.body))}}; });
    });
}

void http_server::impl::utility(httplib::Response & res, const std::function<ojson()> & answer) {
    try {
        res.set_content(dump_json(answer()), "application/json");
    } catch (const api_error & e) {
        send_error(res, e);
    }
}

void http_server::impl::generate(const httplib::Request & req, httplib::Response & res, endpoint kind) {
    auto st  = std::make_shared<reply_state>();
    st->chat = kind == endpoint::CHAT;
    try {
        generation_request   gen;
        std::vector<int32_t> prompt;
        if (st->chat) {
            chat_request r = parse_chat_request(req.body);
            check_model(r.gen.model);
            prompt = prompts.chat(r.messages, sched.n_ctx());
            gen    = std::move(r.gen);
        } else {
            completion_request r = parse_completion_request(req.body);
            check_model(r.gen.model);
            prompt = prompts.completion(r, sched.n_ctx());
            gen    = std::move(r.gen);
            if (r.echo) {
                st->text = r.prompt_is_ids ? eng.require_tokenizer().decode(prompt) : r.prompt_text;
            }
        }
        st->stream        = gen.stream;
        st->include_usage = gen.include_usage;
        st->top_logprobs  = gen.top_logprobs;
        job j             = make_job(gen, std::move(prompt), sched.n_ctx(), opt.defaults);
        if (gen.routing) {
            try {
                j.routing = std::make_shared<const routing_controls>(eng.make_routing(*gen.routing));
            } catch (const sluice::error & e) {
                throw bad_param("sluice", fmt::format("Invalid routing control: {}", e.what()), "invalid_value");
            }
        }
        j.return_routed_experts = gen.return_routed_experts;
        st->routed              = gen.return_routed_experts;
        st->ch                  = sched.submit(std::move(j));
        if (!st->ch) {
            throw api_error(503, "The server is busy: every slot is taken and the queue is full. Retry later.",
                            "server_error", "", "queue_full");
        }
    } catch (const api_error & e) {
        if (e.status() == 503) {
            res.set_header("Retry-After", "1");  // a slot frees when any request ends
        }
        send_error(res, e);
        return;
    }
    st->meta = make_meta(st->chat ? "chatcmpl-" : "cmpl-", model_id);
    if (!st->stream) {
        try {
            answer_whole(*st, res);
        } catch (...) {
            st->ch->cancel();  // the exception handler answers 500; the slot must not run on
            throw;
        }
        return;
    }
    // A stream is written by a content provider, which runs while the client is connected
    // and notices when it goes away (is_writable / a failed write): the request is then
    // cancelled and its slot freed at the scheduler's next step.
    const auto provider = [this, st](size_t, httplib::DataSink & sink) { return write_stream(*st, sink); };
    const auto released = [st](bool) { st->ch->cancel(); };  // a no-op once the job is done
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", provider, released);
}

bool http_server::impl::write_stream(reply_state & st, httplib::DataSink & sink) {
    const auto write = [&](const std::string & s) {
        if (!sink.write(s.data(), s.size())) {
            st.ch->cancel();
            return false;
        }
        return true;
    };
    if (st.chat && !write(sse_event(chat_chunk(st.meta, {{"role", "assistant"}, {"content", ""}}, std::nullopt, nullptr,
                                               st.include_usage)))) {
        return false;
    }
    if (!st.chat && !st.text.empty()) {  // echo
        if (!write(sse_event(completion_chunk(st.meta, st.text, std::nullopt, nullptr, st.include_usage)))) {
            return false;
        }
        st.text_bytes = static_cast<int64_t>(st.text.size());
    }
    const tokenizer & tok = eng.require_tokenizer();
    for (;;) {
        std::vector<job_event> events = st.ch->wait(std::chrono::milliseconds(100));
        if (stopping.load() || !sink.is_writable()) {
            st.ch->cancel();
            return false;
        }
        for (job_event & ev : events) {
            if (ev.error) {  // after the headers: the error travels as an event
                write(sse_event(ev.error->to_json()));
                sink.done();
                return true;
            }
            if (!ev.text.empty() || !ev.logprobs.empty() || !ev.routed.empty()) {
                ojson lp = nullptr;
                if (st.top_logprobs >= 0) {
                    lp = st.chat ? chat_logprobs(tok, ev.logprobs)
                                 : completion_logprobs(tok, ev.logprobs, st.text_bytes);
                }
                ojson c = st.chat ? chat_chunk(st.meta, {{"content", ev.text}}, std::nullopt, lp, st.include_usage)
                                  : completion_chunk(st.meta, ev.text, std::nullopt, lp, st.include_usage);
                if (st.routed) {
                    c = with_routed(std::move(c), ev.routed);
                }
                const std::string chunk = sse_event(c);
                for (const token_logprob & l : ev.logprobs) {
                    st.text_bytes += static_cast<int64_t>(tok.token_bytes(l.id).size());
                }
                if (!write(chunk)) {
                    return false;
                }
            }
            if (ev.done) {
                const std::string last =
                    st.chat
                        ? sse_event(chat_chunk(st.meta, ojson::object(), ev.finish_reason, nullptr, st.include_usage))
                        : sse_event(completion_chunk(st.meta, "", ev.finish_reason, nullptr, st.include_usage));
                if (!write(last) || (st.include_usage && !write(sse_event(usage_chunk(st.meta, st.chat, ev.usage)))) ||
                    !write(sse_done())) {
                    return false;
                }
                sink.done();
                return true;
            }
        }
    }
}

// A whole (non-streamed) reply waits for the job before the status line, so a job that
// fails answers the error's status (500, or 503 when the server stops) with OpenAI's error
// body, not 200. Meanwhile it checks that the client is still there; one that left cancels
// the job, whose slot the scheduler frees at its next step.
void http_server::impl::answer_whole(reply_state & st, httplib::Response & res) {
    st.ch->wake_on_done_only();
    const tokenizer & tok    = eng.require_tokenizer();
    const int64_t     offset = static_cast<int64_t>(st.text.size());  // after the echo
    for (;;) {
        std::vector<job_event> events = st.ch->wait(std::chrono::milliseconds(100));
        if (stopping.load() || peer_closed()) {
            st.ch->cancel();
            send_error(res, api_error(503, "The request was cancelled.", "server_error"));
            close_after_response();
            return;
        }
        for (job_event & ev : events) {
            if (ev.error) {
                send_error(res, *ev.error);
                return;
            }
            st.text += ev.text;
            st.logprobs.insert(st.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
            st.routed_tokens.insert(st.routed_tokens.end(), ev.routed.begin(), ev.routed.end());
            if (ev.done) {
                ojson lp = nullptr;
                if (st.top_logprobs >= 0) {
                    lp = st.chat ? chat_logprobs(tok, st.logprobs) : completion_logprobs(tok, st.logprobs, offset);
                }
                ojson b = st.chat ? chat_response(st.meta, st.text, ev.finish_reason, ev.usage, lp)
                                  : completion_response(st.meta, st.text, ev.finish_reason, ev.usage, lp);
                if (st.routed) {
                    b = with_routed(std::move(b), st.routed_tokens);
                }
                res.set_content(dump_json(b), "application/json");
                return;
            }
        }
    }
}

http_server::http_server(engine & e, const server_options & opt) {
    std::signal(SIGPIPE, SIG_IGN);  // a client that vanished must not kill the server
    impl_ = std::make_unique<impl>(e, opt);
}

http_server::~http_server() = default;

int http_server::bind() {
    const server_options & o = impl_->opt;
    int                    port;
    if (o.port < 0 || o.port > 65535) {
        fail("cannot listen on port {}: a TCP port is 1..65535 (0: any free port)", o.port);
    }
    if (o.port == 0) {
        port = impl_->srv.bind_to_any_port(o.host.c_str());
    } else {
        port = impl_->srv.bind_to_port(o.host.c_str(), o.port) ? o.port : -1;
    }
    if (port <= 0) {
        fail("cannot listen on {}:{} (in use, or not an address of this machine)", o.host, o.port);
    }
    impl_->srv.widen_backlog();
    return port;
}

void http_server::listen() {
    impl_->srv.listen_after_bind();
}

void http_server::stop() {
    impl_->stopping.store(true);
    impl_->srv.stop();
    impl_->srv.stop_guard();
}

const std::string & http_server::model_id() const {
    return impl_->model_id;
}
const std::string & http_server::template_origin() const {
    return impl_->prompts.template_origin();
}

}  // namespace sluice::server
