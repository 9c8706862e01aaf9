// `sluice serve`: the OpenAI-compatible HTTP server (src/server). This file only turns flags
// into server_options, starts the server and stops it on SIGINT/SIGTERM.

#include "cli_common.h"
#include "cli_parallel.h"
#include "cli_routing.h"
#include "commands.h"
#include "serve_parallel.h"
#include "server/http_server.h"
#include "util/error.h"

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

namespace sluice::cli {
namespace {

struct serve_options {
    model_flags            model;
    parallel_flags         parallel;
    routing_request        routing;
    server::server_options server;
    sampler_params         sampling;
    int64_t                n_predict       = -1;
    bool                   ignore_eos      = false;
    bool                   seed_given      = false;
    bool                   no_cache_prompt = false;
};

void serve_http(engine & e, serve_options & o, const sigset_t & sigs);

void serve(serve_options & o) {
    // Before loading anything: 99999 must not quietly become some other port.
    if (o.server.port < 0 || o.server.port > 65535) {
        fail("--port {} is not a TCP port (1..65535, or 0 for any free port)", o.server.port);
    }
    // Signals go to one thread that stops the server; every other thread (the pool, the
    // scheduler, httplib's workers) inherits the blocked mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    ranked_engine ranked(o.model, o.parallel);
    engine &      e                = ranked.e;
    o.server.sched.session         = make_session_options(o.model);
    o.server.sched.session.routing = make_routing(e, o.routing);
    o.server.sched.cache_prompt    = !o.no_cache_prompt;
    std::optional<mpi_step_mirror> mirror;
    if (ranked.ep) {
        if (ranked.ep->rank() != 0) {  // rank 0 serves; this rank runs the steps it announces
            follow_server_steps(e, *ranked.ep, o.server.sched.session, o.server.sched.n_slots);
            return;
        }
        mirror.emplace(*ranked.ep);
        o.server.sched.mirror = &*mirror;
    }
    serve_http(e, o, sigs);
    if (mirror) {
        mirror->stop();
    }
    report_streaming(e, o.model);
}

// Serves until SIGINT or SIGTERM (`sigs`, blocked in every thread); the scheduler is gone
// when this returns.
void serve_http(engine & e, serve_options & o, const sigset_t & sigs) {
    o.server.defaults.sampling   = o.sampling;
    o.server.defaults.max_tokens = o.n_predict;
    o.server.defaults.ignore_eos = o.ignore_eos;
    o.server.defaults.fixed_seed = o.seed_given;
    server::http_server srv(e, o.server);
    const int           port = srv.bind();

    std::thread waiter([&] {
        int sig = 0;
        sigwait(&sigs, &sig);
        srv.stop();
    });
    fmt::print(stderr, "sluice: serving '{}' on http://{}:{} ({} slots, context {} per slot; chat template: {})\n",
               srv.model_id(), o.server.host, port, o.server.sched.n_slots,
               o.server.sched.session.n_ctx > 0 ? o.server.sched.session.n_ctx
                                                : std::min(default_n_ctx, e.hparams().n_ctx_train),
               srv.template_origin());
    std::fflush(stderr);
    srv.listen();
    pthread_kill(waiter.native_handle(), SIGTERM);  // listen() may also end on its own
    waiter.join();
    fmt::print(stderr, "sluice: server stopped\n");
}

}  // namespace

void add_serve_command(CLI::App & app) {
    auto   o   = std::make_shared<serve_options>();
    auto * cmd = app.add_subcommand(
        "serve",
        "serve the OpenAI API (chat/completions, completions, models) and llama-server's tokenize, detokenize "
        "and apply-template over HTTP");
    add_model_flags(cmd, o->model);
    add_parallel_flags(cmd, o->parallel);
    add_routing_flags(cmd, o->routing);
    cmd->add_option("--host", o->server.host, "address to listen on (default: loopback only)")
        ->default_val("127.0.0.1");
    cmd->add_option("--port", o->server.port, "TCP port (0: any free port)")->default_val(8080);
    cmd->add_option("--parallel", o->server.sched.n_slots, "requests decoded together in one batch (slots)")
        ->default_val(4)
        ->check(CLI::Range(1, 256));
    cmd->add_option("--queue", o->server.sched.max_queue, "requests that may wait for a slot; more get HTTP 503")
        ->default_val(64)
        ->check(CLI::Range(0, 100000));
    cmd->add_flag("--no-cache-prompt", o->no_cache_prompt,
                  "start every request from an empty slot (by default a request reuses the cached prefix a free "
                  "slot shares with its prompt, as llama-server's cache_prompt)");
    cmd->add_option("--api-key", o->server.api_key, "require 'Authorization: Bearer KEY' (else HTTP 401)");
    cmd->add_option("--alias", o->server.model_id, "the model name clients use (default: the file name without .gguf)");
    cmd->add_option("--chat-template", o->server.chat_template,
                    "a built-in template instead of the file's: chatml, llama3, gemma, phi3, mistral");
    cmd->add_option("-n,--n-predict", o->n_predict,
                    "max_tokens for requests that give none (-1: until the context is full)")
        ->default_val(-1);
    cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating after an end-of-generation token");
    CLI::Option * seed = add_sampling_flags(cmd, o->sampling);
    cmd->callback([o, seed] {
        o->seed_given = seed->count() > 0;  // else every request without a seed gets a fresh one
        serve(*o);
    });
}

}  // namespace sluice::cli
