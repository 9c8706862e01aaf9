// `sluice serve`: the OpenAI-compatible HTTP API over one engine, on cpp-httplib.
//
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models[/{id}]
//   GET /health                 GET /metrics (Prometheus text)
//
// Handler threads parse and validate a request, build its prompt and hand a job to the
// scheduler (the only thread that runs the model), then relay its tokens as one JSON body
// or as server-sent events. See docs/architecture.md, "The path of a request".
#pragma once

#include "engine/engine.h"
#include "server/prompt.h"
#include "server/scheduler.h"

#include <chrono>
#include <memory>
#include <string>

namespace sluice::server {

struct server_options {
    std::string         host = "127.0.0.1";  // loopback unless asked otherwise
    int                 port = 8080;         // 0: any free port (bind() tells which)
    std::string         api_key;             // non-empty: /v1/* and /metrics need "Authorization: Bearer KEY"
    std::string         model_id;            // the name clients use; empty: the file's name without .gguf
    std::string         chat_template;       // a built-in template name; empty: the file's (else chatml)
    scheduler_options   sched;
    generation_defaults defaults;
    int                 http_threads = 0;         // 0: slots + queue + 4, so a waiting client never blocks a refusal
    size_t              max_body     = 8u << 20;  // bytes of a request body (larger: 413; chunked: 411)
    // From accepting a connection (or the end of its last response) to a complete request
    // line and headers; slower clients get 408 and are closed (they hold no thread meanwhile).
    std::chrono::milliseconds head_timeout{10000};
};

class http_server {
  public:
    // Builds the scheduler (one session per slot) and the routes; throws sluice::error.
    http_server(engine & e, const server_options & opt);
    ~http_server();

    // Binds host:port; returns the port (the chosen one when port is 0). Throws if it cannot.
    int bind();
    // Serves until stop() (from any thread).
    void listen();
    void stop();

    const std::string & model_id() const;
    const std::string & template_origin() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::server
