#include "experts/budget.h"

#include "util/error.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace sluice {

uint64_t parse_budget(std::string_view text, uint64_t total_bytes, std::string_view flag) {
    const std::string s(text);
    const auto        bad = [&]() {
        fail("{} '{}': expected a size (512M, 2G, 1.5GiB, bytes) or a percentage of the routed-expert bytes (25%)",
                    flag, s);
    };
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
        ++i;
    }
    if (i == 0) {
        bad();
    }
    double value         = 0.0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + i, value);
    if (ec != std::errc() || end != s.data() + i || !std::isfinite(value)) {
        bad();
    }
    std::string unit = s.substr(i);
    for (char & c : unit) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (unit == "%") {
        if (value <= 0.0 || value > 100.0) {
            fail("{} '{}': a percentage must be in (0, 100]", flag, s);
        }
        return static_cast<uint64_t>(static_cast<double>(total_bytes) * value / 100.0);
    }
    double scale = 0.0;
    if (unit.empty() || unit == "B") {
        scale = 1.0;
    } else if (unit == "K" || unit == "KB" || unit == "KIB") {
        scale = 1024.0;
    } else if (unit == "M" || unit == "MB" || unit == "MIB") {
        scale = 1024.0 * 1024.0;
    } else if (unit == "G" || unit == "GB" || unit == "GIB") {
        scale = 1024.0 * 1024.0 * 1024.0;
    } else if (unit == "T" || unit == "TB" || unit == "TIB") {
        scale = 1024.0 * 1024.0 * 1024.0 * 1024.0;
    } else {
        bad();
    }
    const double bytes = value * scale;
    if (bytes < 1.0 || bytes > 1e18) {
        fail("{} '{}': the size is out of range", flag, s);
    }
    return static_cast<uint64_t>(bytes);
}

}  // namespace sluice
