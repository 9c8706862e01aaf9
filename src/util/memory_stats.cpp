#include "util/memory_stats.h"

#include <cstdio>
#include <cstring>

namespace sluice {
namespace {

uint64_t status_kib(const char * field) {
    std::FILE * f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) {
        return 0;
    }
    char          line[256];
    unsigned long kib = 0;
    const size_t  len = std::strlen(field);
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
            std::sscanf(line + len + 1, "%lu", &kib);
            break;
        }
    }
    std::fclose(f);
    return static_cast<uint64_t>(kib) * 1024;
}

}  // namespace

uint64_t peak_rss_bytes() {
    return status_kib("VmHWM");
}
uint64_t current_rss_bytes() {
    return status_kib("VmRSS");
}

}  // namespace sluice
