#include "tensor/scan.h"

#include "tensor/quantize.h"

#include <cmath>
#include <vector>

namespace sluice {

int64_t find_non_finite(ggml_type t, const void * data, int64_t n) {
    // Dequantize in chunks of whole blocks so every type is covered by one code path; the
    // chunk keeps the scratch small and in cache.
    const type_traits & tr    = traits(t);
    const int64_t       chunk = tr.block_size * (tr.block_size == 1 ? 4096 : 64);
    const auto *        bytes = static_cast<const uint8_t *>(data);
    std::vector<float>  values(static_cast<size_t>(chunk));
    for (int64_t start = 0; start < n; start += chunk) {
        const int64_t len = std::min(chunk, n - start);
        dequantize_row(t, bytes + row_bytes(t, start), values.data(), len);
        for (int64_t k = 0; k < len; ++k) {
            if (!std::isfinite(values[static_cast<size_t>(k)])) {
                return start + k;
            }
        }
    }
    return -1;
}

}  // namespace sluice
