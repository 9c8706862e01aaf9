// The portable reader: worker threads issuing pread(2). Used where io_uring is unavailable
// (old kernels, seccomp-restricted containers) or asked for with --reader pread.
#include "experts/io/loader.h"
#include "experts/io/loader_impl.h"
#include "util/error.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sluice {
namespace {

class pread_reader final : public async_reader {
  public:
    pread_reader(const std::vector<std::string> & paths, bool want_direct, int n_threads) {
        open_files(paths, want_direct);
        for (int i = 0; i < std::max(1, n_threads); ++i) {
            workers_.emplace_back([this] { work(); });
        }
    }

    ~pread_reader() override {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        wake_.notify_all();
        for (std::thread & t : workers_) {
            t.join();
        }
        close_files();
    }

    std::string_view name() const override { return "pread"; }

    uint64_t submit(const read_request & r) override {
        std::lock_guard lock(mu_);
        const uint64_t  ticket = next_++;
        queue_.push_back({ticket, r});
        pending_[ticket] = {};
        wake_.notify_one();
        return ticket;
    }

    void wait(uint64_t ticket) override {
        std::unique_lock lock(mu_);
        auto             it = pending_.find(ticket);
        if (it == pending_.end()) {
            return;  // already waited for
        }
        done_.wait(lock, [&] { return it->second.done; });
        const std::string error = std::move(it->second.error);
        pending_.erase(it);
        if (!error.empty()) {
            fail("{}", error);
        }
    }

    bool ready(uint64_t ticket) override {
        std::lock_guard lock(mu_);
        auto            it = pending_.find(ticket);
        return it == pending_.end() || it->second.done;
    }

  private:
    struct job {
        uint64_t     ticket;
        read_request req;
    };
    struct status {
        bool        done = false;
        std::string error;
    };

    void work() {
        for (;;) {
            job j;
            {
                std::unique_lock lock(mu_);
                wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
                if (stop_ && queue_.empty()) {
                    return;
                }
                j = queue_.front();
                queue_.pop_front();
            }
            std::string error;
            if (const open_file * f = file_of(j.req, error)) {
                error = read_fully(f->fd, f->path, j.req, f->direct);
            }
            {
                std::lock_guard lock(mu_);
                status &        s = pending_[j.ticket];
                s.done            = true;
                s.error           = std::move(error);
            }
            done_.notify_all();
        }
    }

    std::mutex                           mu_;
    std::condition_variable              wake_, done_;
    std::deque<job>                      queue_;
    std::unordered_map<uint64_t, status> pending_;
    uint64_t                             next_ = 1;
    bool                                 stop_ = false;
    std::vector<std::thread>             workers_;
};

}  // namespace

std::string read_fully(int fd, const std::string & path, const read_request & r, bool direct) {
    uint64_t done = 0;
    while (done < r.length) {
        const ssize_t got = ::pread(fd, r.dest + done, r.length - done, static_cast<off_t>(r.offset + done));
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fmt::format("{}: read of {} bytes at offset {} failed: {}", path, r.length - done, r.offset + done,
                               std::strerror(errno));
        }
        if (got == 0) {
            break;  // end of file
        }
        done += static_cast<uint64_t>(got);
    }
    if (done < r.required) {
        return fmt::format("{}: short read at offset {}: got {} of {} bytes (was the file truncated?)", path, r.offset,
                           done, r.required);
    }
    drop_cached_pages(fd, r, direct);
    return {};
}

void drop_cached_pages(int fd, const read_request & r, bool direct) {
    if (!direct) {
        ::posix_fadvise(fd, static_cast<off_t>(r.offset), static_cast<off_t>(r.length), POSIX_FADV_DONTNEED);
    }
}

std::unique_ptr<async_reader> make_pread_reader(const std::vector<std::string> & paths, const reader_options & opt) {
    return std::make_unique<pread_reader>(paths, opt.direct, opt.threads);
}

void async_reader::open_files(const std::vector<std::string> & paths, bool want_direct) {
    if (paths.empty()) {
        fail("expert reader: no file to read");
    }
    files_.reserve(paths.size());
    try {
        for (const std::string & p : paths) {
            open_file f;
            f.path = p;
            f.fd   = open_for_reading(p, want_direct, f.direct);
            files_.push_back(std::move(f));
        }
    } catch (...) {
        close_files();
        throw;
    }
    direct_ = std::all_of(files_.begin(), files_.end(), [](const open_file & f) { return f.direct; });
}

void async_reader::close_files() {
    for (open_file & f : files_) {
        if (f.fd >= 0) {
            ::close(f.fd);
            f.fd = -1;
        }
    }
}

const async_reader::open_file * async_reader::file_of(const read_request & r, std::string & error) const {
    if (r.file >= files_.size()) {
        error =
            fmt::format("{}: a read asks for file {} of a reader of {}", files_.front().path, r.file, files_.size());
        return nullptr;
    }
    return &files_[r.file];
}

int open_for_reading(const std::string & path, bool want_direct, bool & got_direct) {
    got_direct = false;
    if (want_direct) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd >= 0) {
            got_direct = true;
            return fd;
        }
        if (errno != EINVAL) {  // EINVAL: the filesystem refuses O_DIRECT; fall back below
            fail("{}: cannot open for reading: {}", path, std::strerror(errno));
        }
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("{}: cannot open for reading: {}", path, std::strerror(errno));
    }
    return fd;
}

}  // namespace sluice
