#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sluice {

progress_bar::progress_bar(std::string label, uint64_t total)
    : label_(std::move(label)),
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
    const double  mib_s = secs > 0 ? static_cast<double>(done) / (1 << 20) / secs : 0.0;
    std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %.0f MiB/s", label_.c_str(), fill,
                 "==============================", width - fill, "", percent, mib_s);
    std::fflush(stderr);
}

}  // namespace sluice
