// The one error type of sluice. Errors on untrusted input (files, requests, flags) are thrown
// as sluice::error at load time, never in hot loops, and caught at the edges (CLI, server,
// fuzzer); nothing in sluice aborts on bad input. The message names the file, the field or
// tensor and the byte offset where there is one.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace sluice {

class error : public std::runtime_error {
  public:
    explicit error(const std::string & what) : std::runtime_error(what) {}
};

// Builds and throws an error from a fmt format string.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args &&... args) {
    throw error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace sluice
