#include "model/kv_cache.h"

#include "util/error.h"
#include "util/half.h"

#include <cstring>

namespace sluice {

kv_cache::kv_cache(int64_t n_layer, int64_t n_ctx, int64_t row_len, ggml_type type, bool with_values)
    : n_ctx_(n_ctx), row_len_(row_len), type_(type), n_arrays_(with_values ? 2 : 1) {
    if (type != ggml_type::F32 && type != ggml_type::F16) {
        fail("kv cache type must be f32 or f16, not {}", type_name(type));
    }
    row_bytes_ = static_cast<uint64_t>(row_len) * element_bytes();
    data_.resize(static_cast<uint64_t>(n_layer) * n_arrays_ * static_cast<uint64_t>(n_ctx) * row_bytes_);
}

void kv_cache::store(int64_t layer, int64_t pos, int64_t n, const float * k, const float * v) {
    for (uint64_t which = 0; which < n_arrays_; ++which) {
        const float * src = which == 0 ? k : v;
        for (int64_t t = 0; t < n; ++t) {
            void *        dst = row(layer, static_cast<int>(which), pos + t);
            const float * s   = src + t * row_len_;
            if (type_ == ggml_type::F32) {
                std::memcpy(dst, s, row_len_ * sizeof(float));
            } else {
                auto * d = static_cast<uint16_t *>(dst);
                for (int64_t i = 0; i < row_len_; ++i) {
                    d[i] = f32_to_f16(s[i]);
                }
            }
        }
    }
}

}  // namespace sluice
