// The io_uring reader: one ring owned by the thread that calls it (the forward pass). Reads
// are queued without a system call each; submit() flushes them so the device starts at
// once, wait() reaps completions until the asked-for one is in. A short read (possible for
// large requests) is resubmitted for the rest.
#include "experts/io/loader.h"
#include "experts/io/loader_impl.h"
#include "util/error.h"

#include <liburing.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

namespace sluice {
namespace {

class uring_reader final : public async_reader {
  public:
    // The ring is set up in place (liburing's struct is not meant to be copied); ok() tells
    // whether the kernel allowed it.
    explicit uring_reader(int depth) : depth_(std::max(4, depth)) {
        ok_ = io_uring_queue_init(static_cast<unsigned>(depth_), &ring_, 0) == 0;
    }
    bool ok() const { return ok_; }
    void attach(const std::vector<std::string> & paths, bool want_direct) { open_files(paths, want_direct); }

    ~uring_reader() override {
        if (!ok_) {
            return;
        }
        // Reads still in flight write into buffers their owner may free next: reap them.
        while (in_flight_ > 0) {
            io_uring_cqe * cqe = nullptr;
            if (io_uring_wait_cqe(&ring_, &cqe) != 0) {
                break;
            }
            io_uring_cqe_seen(&ring_, cqe);
            --in_flight_;
        }
        io_uring_queue_exit(&ring_);
        close_files();
    }

    std::string_view name() const override { return "io_uring"; }

    uint64_t submit(const read_request & r) override {
        const uint64_t ticket = next_++;
        pending_[ticket]      = op{r, 0, false, {}};
        start(ticket);
        return ticket;
    }

    void wait(uint64_t ticket) override {
        auto it = pending_.find(ticket);
        while (it != pending_.end() && !it->second.done) {
            reap(true);
            it = pending_.find(ticket);
        }
        if (it == pending_.end()) {
            return;
        }
        const std::string error = std::move(it->second.error);
        pending_.erase(it);
        if (!error.empty()) {
            fail("{}", error);
        }
    }

    bool ready(uint64_t ticket) override {
        reap(false);
        auto it = pending_.find(ticket);
        return it == pending_.end() || it->second.done;
    }

  private:
    struct op {
        read_request req;
        uint64_t     done_bytes = 0;
        bool         done       = false;
        std::string  error;
    };

    void start(uint64_t ticket) {
        while (in_flight_ >= depth_) {  // keep completions within the ring's size
            reap(true);
        }
        op &              o = pending_[ticket];
        const open_file * f = file_of(o.req, o.error);
        if (f == nullptr) {
            o.done = true;
            return;
        }
        io_uring_sqe * sqe = io_uring_get_sqe(&ring_);
        while (sqe == nullptr) {  // ring full: make room by reaping one completion
            reap(true);
            sqe = io_uring_get_sqe(&ring_);
        }
        io_uring_prep_read(sqe, f->fd, o.req.dest + o.done_bytes, static_cast<unsigned>(o.req.length - o.done_bytes),
                           o.req.offset + o.done_bytes);
        io_uring_sqe_set_data64(sqe, ticket);
        ++in_flight_;
        const int rc = io_uring_submit(&ring_);
        if (rc < 0) {
            --in_flight_;
            o.done = true;
            o.error =
                fmt::format("{}: io_uring submit for offset {} failed: {}", f->path, o.req.offset, std::strerror(-rc));
        }
    }

    // Handles completions: one (blocking) or whatever is there (non-blocking).
    void reap(bool block) {
        io_uring_cqe * cqe = nullptr;
        int            rc  = block ? io_uring_wait_cqe(&ring_, &cqe) : io_uring_peek_cqe(&ring_, &cqe);
        while (rc == 0 && cqe != nullptr) {
            const uint64_t ticket = io_uring_cqe_get_data64(cqe);
            const int      res    = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            --in_flight_;
            complete(ticket, res);
            cqe = nullptr;
            rc  = io_uring_peek_cqe(&ring_, &cqe);
        }
        if (block && rc < 0 && rc != -EAGAIN && rc != -EINTR) {
            fail("{}: waiting for io_uring completions failed: {}", path(), std::strerror(-rc));
        }
    }

    void complete(uint64_t ticket, int res) {
        auto it = pending_.find(ticket);
        if (it == pending_.end()) {
            return;
        }
        op &                o    = it->second;
        const std::string & path = files_[o.req.file].path;  // start() checked the index
        if (res < 0) {
            o.done  = true;
            o.error = fmt::format("{}: read of {} bytes at offset {} failed: {}", path, o.req.length - o.done_bytes,
                                  o.req.offset + o.done_bytes, std::strerror(-res));
            return;
        }
        o.done_bytes += static_cast<uint64_t>(res);
        if (res > 0 && o.done_bytes < o.req.length) {
            start(ticket);  // partial read: ask for the rest
            return;
        }
        o.done = true;
        if (o.done_bytes < o.req.required) {
            o.error = fmt::format("{}: short read at offset {}: got {} of {} bytes (was the file truncated?)", path,
                                  o.req.offset, o.done_bytes, o.req.required);
            return;
        }
        drop_cached_pages(files_[o.req.file].fd, o.req, files_[o.req.file].direct);
    }

    int                              depth_;
    bool                             ok_ = false;
    io_uring                         ring_{};
    std::unordered_map<uint64_t, op> pending_;
    uint64_t                         next_      = 1;
    int                              in_flight_ = 0;
};

}  // namespace

std::unique_ptr<async_reader> make_uring_reader(const std::vector<std::string> & paths, const reader_options & opt) {
    auto r = std::make_unique<uring_reader>(opt.queue_depth);
    if (!r->ok()) {
        return nullptr;
    }
    r->attach(paths, opt.direct);
    return r;
}

std::unique_ptr<async_reader> open_reader(const std::vector<std::string> & paths, const reader_options & opt) {
    if (paths.empty()) {
        fail("expert reader: no file to read");
    }
    if (opt.kind != reader_kind::PREAD) {
        if (auto r = make_uring_reader(paths, opt)) {
            return r;
        }
        if (opt.kind == reader_kind::IO_URING) {
            fail("{}: io_uring is not available here (kernel or sandbox refuses it); use --reader pread", paths[0]);
        }
    }
    return make_pread_reader(paths, opt);
}

}  // namespace sluice
