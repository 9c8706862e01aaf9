// FNV-1a, 64 bits: a fingerprint for comparing things across processes (the model header and
// the expert partition each MPI rank holds). Not cryptographic; it catches accidents.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice {

class fnv1a {
  public:
    void add(const void * data, size_t n) {
        const auto * p = static_cast<const unsigned char *>(data);
        for (size_t i = 0; i < n; ++i) {
            h_ ^= p[i];
            h_ *= 1099511628211ull;
        }
    }
    // The 8 bytes of v, least significant first (the same on every machine).
    void add_u64(uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            const auto b = static_cast<unsigned char>(v >> (8 * i));
            add(&b, 1);
        }
    }
    uint64_t value() const { return h_; }

  private:
    uint64_t h_ = 14695981039346656037ull;
};

}  // namespace sluice
