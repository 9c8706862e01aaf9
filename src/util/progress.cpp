#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sluice {

progress_bar::progress_bar(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

progress_bar::~progress_bar() {
    if (enabled_ && last_percent_ >= 0) {
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }
}

void progress_bar::update(uint64_t done) {
    if (!enabled_ || total_ == 0) {
        return;
    }
    const int percent = static_cast<int>(done * 100 / total_);
    if (percent == last_percent_) {
        return;
    }
    last_percent_       = percent;
    constexpr int width = 30;
    const int     fill  = percent * width / 100;
    const double  secs  = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double  scale = unit_.empty() ? static_cast<double>(1 << 20) : 1.0;
    const double  rate  = secs > 0 ? static_cast<double>(done) / scale / secs : 0.0;
    std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %.0f %s/s", label_.c_str(), fill,
                 "==============================", width - fill, "", percent, rate,
                 unit_.empty() ? "MiB" : unit_.c_str());
    std::fflush(stderr);
}

}  // namespace sluice
