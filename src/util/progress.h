// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sluice {

class progress_bar {
  public:
    // `total` bytes (the rate is shown in MiB/s), or `total` of `unit` ("tokens": tokens/s).
    progress_bar(std::string label, uint64_t total, std::string unit = "");
    ~progress_bar();  // clears the line
    void update(uint64_t done);

  private:
    std::string                           label_;
    std::string                           unit_;
    uint64_t                              total_;
    bool                                  enabled_;
    int                                   last_percent_ = -1;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace sluice
