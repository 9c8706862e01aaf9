// A read-only memory mapping of a whole file. Weights are views into it; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice {

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
