// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sluice {

// `total` and update()'s `done` count bytes (the rate is shown in MiB/s) unless a unit is
// given ("tok": the rate is shown in tok/s).
class progress_bar {
  public:
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
