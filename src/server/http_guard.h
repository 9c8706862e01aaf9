// cpp-httplib with bounded reads (issue 16 items 2 and 3).
//
// Debian's cpp-httplib 0.11 gives every connection a pool thread from accept() on, and its
// read timeout is per recv(): a client sending one header line every 2 s holds a thread for
// as long as it likes, and 200 such clients hold them all (/health stops answering). Its
// payload limit covers Content-Length bodies only. guarded_server keeps httplib's request
// parsing, routing and response writing (process_request) and replaces the socket loop
// around it:
//
//   accept (httplib) -> reactor thread: poll() every connection until its head (request line
//       and headers) is complete, and, when it says Content-Length <= max_body, its body too
//       (at most max_buffered bytes of bodies at once; beyond that a connection waits unread);
//       no thread is held meanwhile. A head not complete within head_timeout gets 408, a head
//       over max_head gets 431, a body not complete within body_timeout gets 408, and the
//       connection is closed.
//       "Expect: 100-continue" is answered by the reactor, which then reads the body too.
//   -> worker pool: process_request on a stream that replays those bytes; any further read
//       is bounded by a deadline (body_timeout) and a byte budget. Bodies are read by a worker
//       only when they are refused unread (no length, chunked, over max_body).
//   -> keep-alive: the connection goes back to the reactor, not to a waiting thread.
//
// Requests with Transfer-Encoding or without a length are refused by the server's
// pre-routing handler (http_server.cpp), which calls close_after_response() so that an
// unread body is never parsed as the next request.
#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>

namespace sluice::server {

struct guard_limits {
    std::chrono::milliseconds head_timeout{10000};       // from accept (or the last response) to a complete head
    std::chrono::milliseconds body_timeout{60000};       // a body the worker reads itself, from dispatch
    std::chrono::milliseconds write_timeout{5000};       // one blocked write
    size_t                    max_head     = 16u << 10;  // request line + headers, bytes
    size_t                    max_body     = 8u << 20;   // bytes of one body
    size_t                    max_buffered = 64u << 20;  // bodies the reactor holds at once (all connections)
    size_t                    max_pending  = 4096;       // connections the reactor watches; more are closed
    size_t                    keep_alive   = 100;        // requests per connection
    int                       workers      = 8;          // threads that run requests
};

// From a handler running on a worker (pre-routing): close the connection after this
// response, because part of the request (its body) was left unread.
void close_after_response();

// From a handler running on a worker: whether the client closed the connection (a handler
// that waits before answering uses it to give up on a client that left).
bool peer_closed();

class guarded_server : public httplib::Server {
  public:
    explicit guarded_server(const guard_limits & limits);
    ~guarded_server() override;

    // Stops the reactor and the workers (closing every connection); idempotent. Call after
    // httplib's stop().
    void stop_guard();
    // After binding: httplib listens with a backlog of 5, so a burst of connections waits
    // for SYN retransmits (1 s, 3 s, ...) before accept() even sees it.
    void widen_backlog();

  private:
    // Called by httplib's accept loop on its task queue: hands the socket to the reactor.
    bool process_and_close_socket(socket_t sock) override;

    struct state;
    std::shared_ptr<state> st_;
};

}  // namespace sluice::server
