#include "server/http_guard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::server {
namespace {

using clock_type = std::chrono::steady_clock;

thread_local bool t_close_after = false;
thread_local int  t_fd          = -1;  // the connection this worker is answering

void close_socket(int fd) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
}

// Waits until fd is ready for `events` or `until` passes; false on timeout or error.
bool wait_for(int fd, short events, clock_type::time_point until) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now()).count();
        pollfd     p{fd, events, 0};
        const int  r = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30)));
        if (r > 0) {
            return true;
        }
        if (r == 0 || errno != EINTR) {
            return false;
        }
    }
}

// A best-effort answer from the reactor (which never blocks on a client): status line,
// an OpenAI-shaped error body, and the connection closes.
void refuse(int fd, int status, const char * reason, const char * message) {
    const std::string body = std::string(R"({"error":{"message":")") + message +
                             R"(","type":"invalid_request_error","param":null,"code":null}})";
    const std::string head =
        "HTTP/1.1 " + std::to_string(status) + " " + reason +
        "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n";
    const std::string              all = head + body;
    [[maybe_unused]] const ssize_t n   = ::send(fd, all.data(), all.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// What the reactor needs from a head: Content-Length when it is the only framing (-1: none,
// another framing, or not a plain number), and whether the client waits for 100 Continue.
struct head_info {
    int64_t content_length = -1;
    bool    expect         = false;            // an Expect header, whatever it says
    bool    continue_100   = false;            // it is the only one and says 100-continue
    size_t  expect_begin = 0, expect_end = 0;  // its line, CRLF included
};

head_info read_head(std::string_view head) {
    head_info   h;
    bool        other_framing = false;
    int         lengths       = 0;
    size_t      pos           = head.find("\r\n");  // skip the request line
    std::string name;
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const size_t start = pos + 2;
        const size_t end   = head.find("\r\n", start);
        if (end == std::string_view::npos) {
            break;
        }
        const std::string_view line  = head.substr(start, end - start);
        const size_t           colon = line.find(':');
        if (colon != std::string_view::npos) {
            name               = lower(line.substr(0, colon));
            std::string_view v = line.substr(colon + 1);
            const size_t     b = v.find_first_not_of(" \t");
            v                  = b == std::string_view::npos ? std::string_view() : v.substr(b);
            const size_t e     = v.find_last_not_of(" \t");
            v                  = e == std::string_view::npos ? std::string_view() : v.substr(0, e + 1);
            if (name == "content-length") {
                ++lengths;
                int64_t n = v.empty() || v.size() > 18 ? -1 : 0;
                for (char c : v) {
                    if (c < '0' || c > '9') {
                        n = -1;
                        break;
                    }
                    n = n * 10 + (c - '0');
                }
                h.content_length = n;
            } else if (name == "transfer-encoding") {
                other_framing = true;
            } else if (name == "expect") {
                h.continue_100 = !h.expect && lower(v) == "100-continue";
                h.expect       = true;
                h.expect_begin = start;
                h.expect_end   = end + 2;
            }
        }
        pos = end;
    }
    if (other_framing || lengths != 1) {
        h.content_length = -1;
    }
    return h;
}

// httplib's view of a connection on a worker: first the bytes the reactor read, then the
// socket, every read bounded by one deadline and the whole request by a byte budget.
class guarded_stream : public httplib::Stream {
  public:
    guarded_stream(int fd, std::string pre, clock_type::time_point deadline, size_t budget,
                   std::chrono::milliseconds write_timeout)
        : fd_(fd), pre_(std::move(pre)), deadline_(deadline), budget_(budget), write_timeout_(write_timeout) {}

    bool is_readable() const override { return pos_ < pre_.size() || wait_for(fd_, POLLIN, deadline_); }

    bool is_writable() const override {
        if (!wait_for(fd_, POLLOUT, clock_type::now() + write_timeout_)) {
            return false;
        }
        // Alive unless the peer closed: nothing to read, or something (a pipelined request).
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 0) == 0) {
            return true;
        }
        char c = 0;
        return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
    }

    ssize_t read(char * ptr, size_t size) override {
        if (pos_ < pre_.size()) {
            const size_t n = std::min(size, pre_.size() - pos_);
            std::memcpy(ptr, pre_.data() + pos_, n);
            pos_ += n;
            return static_cast<ssize_t>(n);
        }
        if (budget_ == 0 || !wait_for(fd_, POLLIN, deadline_)) {
            failed_ = true;
            return -1;
        }
        ssize_t n;
        do {
            n = ::recv(fd_, ptr, std::min(size, budget_), MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n > 0) {
            budget_ -= static_cast<size_t>(n);
        } else {
            failed_ = true;
        }
        return n;
    }

    ssize_t write(const char * ptr, size_t size) override {
        if (!wait_for(fd_, POLLOUT, clock_type::now() + write_timeout_)) {
            failed_ = true;
            return -1;
        }
        ssize_t n;
        do {
            n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            failed_ = true;
        }
        return n;
    }

    void     get_remote_ip_and_port(std::string & ip, int & port) const override { address(true, ip, port); }
    void     get_local_ip_and_port(std::string & ip, int & port) const override { address(false, ip, port); }
    socket_t socket() const override { return fd_; }

    bool        failed() const { return failed_; }
    std::string rest() const { return pre_.substr(pos_); }  // bytes read but not consumed (pipelining)

  private:
    void address(bool peer, std::string & ip, int & port) const {
        sockaddr_storage a{};
        socklen_t        len              = sizeof a;
        const int        r                = peer ? ::getpeername(fd_, reinterpret_cast<sockaddr *>(&a), &len)
                                                 : ::getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len);
        char             host[NI_MAXHOST] = {};
        char             serv[NI_MAXSERV] = {};
        if (r != 0 || ::getnameinfo(reinterpret_cast<sockaddr *>(&a), len, host, sizeof host, serv, sizeof serv,
                                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
            ip.clear();
            port = 0;
            return;
        }
        ip   = host;
        port = std::atoi(serv);
    }

    int                       fd_;
    std::string               pre_;
    size_t                    pos_ = 0;
    clock_type::time_point    deadline_;
    size_t                    budget_;
    std::chrono::milliseconds write_timeout_;
    bool                      failed_ = false;
};

}  // namespace

void close_after_response() {
    t_close_after = true;
}

bool peer_closed() {
    if (t_fd < 0) {
        return false;
    }
    // Alive unless the peer closed: nothing to read, or something (a pipelined request).
    pollfd p{t_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) {
        return false;
    }
    char c = 0;
    return ::recv(t_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

struct guarded_server::state {
    // One connection between requests: owned by the reactor, then by one worker.
    struct conn {
        int                    fd = -1;
        std::string            buf;       // read so far
        clock_type::time_point deadline;  // for the head, then for a body the reactor reads
        size_t                 requests_left = 0;
        size_t                 need          = 0;      // head + body bytes once the head is known; 0: head incomplete
        size_t                 reserved      = 0;      // body bytes counted in `buffered`
        bool                   blocked       = false;  // head in, waiting for room to buffer the body
    };

    state(guarded_server & s, const guard_limits & l) : srv(s), lim(l), workers(static_cast<size_t>(l.workers)) {
        wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake < 0) {
            throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
        }
        reactor = std::thread([this] { loop(); });
    }

    void add(conn c) {
        std::unique_lock lock(mu);
        if (stopped) {
            lock.unlock();
            close_socket(c.fd);
            return;
        }
        incoming.push_back(std::move(c));
        const uint64_t                 one = 1;  // under the lock: stop() closes `wake`
        [[maybe_unused]] const ssize_t n   = ::write(wake, &one, sizeof one);
    }

    void stop() {
        {
            std::lock_guard lock(mu);
            if (stopped) {
                return;
            }
            stopped = true;
        }
        const uint64_t                 one = 1;
        [[maybe_unused]] const ssize_t n   = ::write(wake, &one, sizeof one);
        reactor.join();
        workers.shutdown();  // runs what is queued: those see `stopped` and close
        std::lock_guard lock(mu);
        ::close(wake);
    }

    bool is_stopped() {
        std::lock_guard lock(mu);
        return stopped;
    }

    enum class verdict { WAIT, DISPATCH, CLOSE };

    verdict check(conn & c, clock_type::time_point now) {
        if (c.need == 0) {
            const size_t end = c.buf.find("\r\n\r\n");
            if (end == std::string::npos || end + 4 > lim.max_head) {
                if (c.buf.size() > lim.max_head) {
                    refuse(c.fd, 431, "Request Header Fields Too Large", "The request line and headers are too large.");
                    return verdict::CLOSE;
                }
                if (now >= c.deadline) {
                    if (!c.buf.empty()) {
                        refuse(c.fd, 408, "Request Timeout", "The request was not received in time.");
                    }
                    return verdict::CLOSE;
                }
                return verdict::WAIT;
            }
            const head_info info = read_head(std::string_view(c.buf).substr(0, end + 4));
            // The reactor also waits for a body it can hold, so that slow bodies hold no
            // thread either: while max_buffered bytes of bodies are held, a connection waits
            // unread (still under its head deadline). Anything else (no length, chunked, too
            // large: refused by the pre-routing handler; Expect: 100-continue) goes to a
            // worker now, where httplib reads under the worker's deadline and budget.
            const bool fits = info.content_length > 0 && (!info.expect || info.continue_100) &&
                              static_cast<size_t>(info.content_length) <= lim.max_body;
            if (fits && buffered.load() + static_cast<size_t>(info.content_length) > lim.max_buffered) {
                c.blocked = true;  // not polled; looked at again on each pass of the loop (<= 1 s)
                if (now >= c.deadline) {
                    refuse(c.fd, 408, "Request Timeout", "The server is too busy to receive the request in time.");
                    return verdict::CLOSE;
                }
                return verdict::WAIT;
            }
            c.blocked = false;
            c.need    = end + 4;
            if (fits && info.continue_100) {
                // The client waits for a go-ahead before sending the body: give it here and
                // drop the header, so that httplib neither sends a second one nor waits.
                const char    go[] = "HTTP/1.1 100 Continue\r\n\r\n";
                const ssize_t n    = ::send(c.fd, go, sizeof go - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n != static_cast<ssize_t>(sizeof go - 1)) {
                    return verdict::CLOSE;
                }
                c.buf.erase(info.expect_begin, info.expect_end - info.expect_begin);
                c.need -= info.expect_end - info.expect_begin;
            }
            if (fits) {
                c.reserved = static_cast<size_t>(info.content_length);
                buffered += c.reserved;
                c.need += c.reserved;
                c.deadline = now + lim.body_timeout;
            }
        }
        if (c.buf.size() >= c.need) {
            return verdict::DISPATCH;
        }
        if (now >= c.deadline) {
            refuse(c.fd, 408, "Request Timeout", "The request body was not received in time.");
            return verdict::CLOSE;
        }
        return verdict::WAIT;
    }

    void finish(conn & c) {  // the reactor or a worker is done with c's socket
        buffered -= c.reserved;
        c.reserved = 0;
        close_socket(c.fd);
    }

    void dispatch(conn c) {
        workers.enqueue([this, c = std::move(c)]() mutable { serve(c); });
    }

    void serve(conn & c) {
        if (is_stopped()) {
            finish(c);
            return;
        }
        guarded_stream strm(c.fd, std::move(c.buf), clock_type::now() + lim.body_timeout,
                            lim.max_head + lim.max_body + (64u << 10), lim.write_timeout);
        t_close_after     = false;
        t_fd              = c.fd;
        bool       closed = false;
        const bool ok     = srv.process_request(strm, c.requests_left <= 1, closed, nullptr);
        t_fd              = -1;
        buffered -= c.reserved;
        c.reserved = 0;
        if (ok && !closed && !t_close_after && !strm.failed() && c.requests_left > 1) {
            conn next;
            next.fd            = c.fd;
            next.buf           = strm.rest();
            next.deadline      = clock_type::now() + lim.head_timeout;
            next.requests_left = c.requests_left - 1;
            add(std::move(next));
            return;
        }
        close_socket(c.fd);
    }

    void loop() {
        std::vector<conn>   conns;
        std::vector<pollfd> pfds;
        std::vector<char>   tmp(64u << 10);
        for (;;) {
            {
                std::lock_guard lock(mu);
                if (stopped) {
                    break;
                }
                for (conn & c : incoming) {
                    if (conns.size() >= lim.max_pending) {
                        close_socket(c.fd);
                    } else {
                        conns.push_back(std::move(c));
                    }
                }
                incoming.clear();
            }
            // Decide first (a connection may come back with a pipelined request), then poll.
            auto now = clock_type::now();
            sweep(conns, now);
            pfds.assign(1, pollfd{wake, POLLIN, 0});
            auto next = now + std::chrono::seconds(1);
            for (const conn & c : conns) {
                pfds.push_back(pollfd{c.fd, static_cast<short>(c.blocked ? 0 : POLLIN), 0});
                next = std::min(next, c.deadline);
            }
            const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
            const int  r       = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::max<int64_t>(wait_ms, 0)));
            if (r < 0 && errno != EINTR) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            uint64_t                       drained = 0;
            [[maybe_unused]] const ssize_t n       = ::read(wake, &drained, sizeof drained);
            // Read what arrived; pfds[i + 1] is conns[i] (sweep has not run since).
            for (size_t i = 0; i < conns.size(); ++i) {
                if ((pfds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                    continue;
                }
                conn &        c    = conns[i];
                const size_t  room = c.need > 0 ? c.need - std::min(c.need, c.buf.size()) : lim.max_head + 1;
                const ssize_t got =
                    ::recv(c.fd, tmp.data(), std::min(tmp.size(), std::max<size_t>(room, 1)), MSG_DONTWAIT);
                if (got > 0) {
                    c.buf.append(tmp.data(), static_cast<size_t>(got));
                } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                    c.deadline = clock_type::time_point::min();  // the peer left: close silently below
                    c.buf.clear();
                    c.need          = 0;
                    c.requests_left = 0;
                }
            }
            now = clock_type::now();
            sweep(conns, now);
        }
        for (conn & c : conns) {
            finish(c);
        }
        std::lock_guard lock(mu);
        for (conn & c : incoming) {
            close_socket(c.fd);
        }
        incoming.clear();
    }

    // Dispatches complete requests and closes expired or departed connections.
    void sweep(std::vector<conn> & conns, clock_type::time_point now) {
        for (size_t i = conns.size(); i-- > 0;) {
            conn &  c = conns[i];
            verdict v;
            if (c.requests_left == 0) {
                v = verdict::CLOSE;
            } else {
                v = check(c, now);
            }
            if (v == verdict::WAIT) {
                continue;
            }
            if (v == verdict::DISPATCH) {
                dispatch(std::move(c));
            } else {
                finish(c);
            }
            conns.erase(conns.begin() + static_cast<ptrdiff_t>(i));
        }
    }

    guarded_server &    srv;
    guard_limits        lim;
    httplib::ThreadPool workers;
    std::atomic<size_t> buffered{0};
    int                 wake = -1;
    std::mutex          mu;
    bool                stopped = false;
    std::vector<conn>   incoming;
    std::thread         reactor;
};

guarded_server::guarded_server(const guard_limits & limits) : st_(std::make_shared<state>(*this, limits)) {}

guarded_server::~guarded_server() {
    stop_guard();
}

void guarded_server::stop_guard() {
    st_->stop();
}

void guarded_server::widen_backlog() {
    if (svr_sock_ != INVALID_SOCKET) {
        ::listen(svr_sock_, SOMAXCONN);  // on a listening socket: only the backlog changes
    }
}

bool guarded_server::process_and_close_socket(socket_t sock) {
    state::conn c;
    c.fd            = sock;
    c.deadline      = clock_type::now() + st_->lim.head_timeout;
    c.requests_left = std::max<size_t>(st_->lim.keep_alive, 1);
    st_->add(std::move(c));
    return true;
}

}  // namespace sluice::server
