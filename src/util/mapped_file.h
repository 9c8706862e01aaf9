// A read-only memory mapping of a whole file. Weights are views into it; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice {

// Weights are read through the mapping, so a model file that shrinks while it is mapped (it
// was truncated or rewritten in place) turns a read into SIGBUS. After this call, such a
// fault inside any live mapped_file prints "sluice: error: FILE: ..." on stderr and exits
// with status 1 (async-signal-safe: one write(2), then _exit); a SIGBUS anywhere else keeps
// its default action. The CLI calls it at start (issue 16 item 7).
void report_mapping_faults();

class mapped_file {
  public:
    // Maps `path` read-only. Throws sluice::error naming the path on failure.
    explicit mapped_file(const std::string & path);
    ~mapped_file();
    mapped_file(const mapped_file &)             = delete;
    mapped_file & operator=(const mapped_file &) = delete;
    mapped_file(mapped_file && other) noexcept;
    mapped_file & operator=(mapped_file && other) noexcept;

    const uint8_t *     data() const { return data_; }
    size_t              size() const { return size_; }
    const std::string & path() const { return path_; }

  private:
    void release();

    std::string     path_;
    const uint8_t * data_ = nullptr;
    size_t          size_ = 0;
};

}  // namespace sluice
