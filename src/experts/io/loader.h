// Asynchronous reads of byte ranges of a few files (the parts of a split model), for the streaming expert cache:
// io_uring (liburing) where the kernel allows it, else a small pool of pread threads. Several reads are in flight at
// once; the caller waits for the ones it needs. Reads bypass the page cache (O_DIRECT) so that neither the cache budget
// nor the measurements are undone by the kernel quietly keeping the model in RAM; where O_DIRECT is refused (tmpfs,
// some filesystems) the pages read are dropped with posix_fadvise(DONTNEED) instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// O_DIRECT needs offsets, lengths and buffers aligned to the device's logical block; 4096
// covers every device sluice expects.
inline constexpr uint64_t direct_io_alignment = 4096;

struct read_request {
    uint32_t    file     = 0;        // which of the reader's files (a split model's part)
    uint64_t    offset   = 0;        // aligned to direct_io_alignment
    uint64_t    length   = 0;        // aligned; may run past the end of the file
    uint64_t    required = 0;        // bytes that must be read (a short read before this is an error)
    std::byte * dest     = nullptr;  // aligned buffer of `length` bytes
};

enum class reader_kind { AUTOMATIC, IO_URING, PREAD };

struct reader_options {
    reader_kind kind        = reader_kind::AUTOMATIC;
    bool        direct      = true;  // try O_DIRECT
    int         queue_depth = 64;    // io_uring entries
    int         threads     = 4;     // pread workers
};

class async_reader {
  public:
    virtual ~async_reader() = default;

    virtual std::string_view name() const = 0;                   // "io_uring" or "pread"
    bool                     direct() const { return direct_; }  // every file opened with O_DIRECT
    const std::string &      path(uint32_t file = 0) const { return files_[file].path; }
    size_t                   n_files() const { return files_.size(); }

    // Starts a read; returns its ticket.
    virtual uint64_t submit(const read_request & r) = 0;
    // Blocks until the read is complete. Throws sluice::error naming the file and offset on
    // an IO error or a short read (a file truncated under us).
    virtual void wait(uint64_t ticket) = 0;
    // Whether the read is complete (does not throw; wait() reports errors).
    virtual bool ready(uint64_t ticket) = 0;

  protected:
    struct open_file {
        std::string path;
        int         fd     = -1;
        bool        direct = false;  // opened with O_DIRECT (else pages read are dropped)
    };

    async_reader() = default;
    // Opens every file (O_DIRECT when asked and allowed); throws naming the one that fails.
    void open_files(const std::vector<std::string> & paths, bool want_direct);
    void close_files();
    // The file a request names, or nullptr (with `error` set) when it names none.
    const open_file * file_of(const read_request & r, std::string & error) const;

    std::vector<open_file> files_;
    bool                   direct_ = false;
};

// Opens `paths` (one file, or a split model's parts in order) for reading with the kind
// asked (automatic: io_uring, else pread). Throws naming the file when one cannot be opened,
// or when io_uring was asked for and is refused.
std::unique_ptr<async_reader>        open_reader(const std::vector<std::string> & paths, const reader_options & opt);
inline std::unique_ptr<async_reader> open_reader(const std::string & path, const reader_options & opt) {
    return open_reader(std::vector<std::string>{path}, opt);
}

// Opens the file, with O_DIRECT when asked and allowed; tells which it got. Shared by the
// reader kinds.
int open_for_reading(const std::string & path, bool want_direct, bool & got_direct);

}  // namespace sluice
