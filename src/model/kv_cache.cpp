#include "model/kv_cache.h"

#include "kernels/kernels.h"
#include "util/error.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sluice {

kv_cache::kv_cache(int64_t n_layer, int64_t n_ctx, int64_t row_len, ggml_type type, bool with_values)
    : n_ctx_(n_ctx), n_pos_(n_ctx), row_len_(row_len), type_(type), n_arrays_(with_values ? 2 : 1) {
    if (type != ggml_type::F32 && type != ggml_type::F16) {
        fail("kv cache type must be f32 or f16, not {}", type_name(type));
    }
    if (n_layer < 0 || n_ctx <= 0 || row_len < 0) {
        fail("kv cache: bad geometry ({} layers, {} positions, rows of {})", n_layer, n_ctx, row_len);
    }
    if (with_values) {
        n_pos_ = (n_ctx + k_attention_block - 1) / k_attention_block * k_attention_block;
    }
    row_bytes_                 = static_cast<uint64_t>(row_len) * element_bytes();
    const uint64_t per_pos     = static_cast<uint64_t>(n_layer) * n_arrays_ * row_bytes_;
    const uint64_t max_address = uint64_t{1} << 46;  // 64 TiB: more is no real context
    if (per_pos != 0 && static_cast<uint64_t>(n_pos_) > max_address / per_pos) {
        fail("kv cache: a context of {} positions needs more than {} bytes of address space ({} per position)", n_ctx,
             max_address, per_pos);
    }
    bytes_ = per_pos * static_cast<uint64_t>(n_pos_);
    if (bytes_ == 0) {
        return;
    }
    // MAP_NORESERVE: only the pages written count against memory (the kernel zero-fills
    // untouched ones), so the cache grows with the context actually used.
    void * p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        fail("kv cache: cannot reserve {} bytes for a context of {} positions: {}", bytes_, n_ctx,
             std::strerror(errno));
    }
    data_ = static_cast<uint8_t *>(p);
}

kv_cache::~kv_cache() {
    if (data_ != nullptr) {
        ::munmap(data_, bytes_);
    }
}

void kv_cache::store(int64_t layer, int64_t pos, int64_t n, const float * k, const float * v, isa i) {
    // Row t of src in the cache's type at dst.
    const auto put = [&](const float * src, void * dst) {
        if (type_ == ggml_type::F32) {
            std::memcpy(dst, src, row_len_ * sizeof(float));
        } else {
            to_f16(src, static_cast<uint16_t *>(dst), row_len_, i);
        }
    };
    if (keys_in_lanes()) {                           // element (p, c) at group p / 16, offset c * 16 + p % 16
        std::vector<uint8_t> converted(row_bytes_);  // one key row in the cache's type
        for (int64_t t = 0; t < n; ++t) {
            const int64_t p = pos + t;
            put(k + t * row_len_, converted.data());
            auto * g = static_cast<uint8_t *>(row(layer, 0, p / 16 * 16)) + (p % 16) * element_bytes();
            for (int64_t c = 0; c < row_len_; ++c) {
                std::memcpy(g + c * 16 * element_bytes(), converted.data() + c * element_bytes(), element_bytes());
            }
        }
    }
    for (uint64_t which = keys_in_lanes() ? 1 : 0; which < n_arrays_; ++which) {
        const float * src = which == 0 ? k : v;
        for (int64_t t = 0; t < n; ++t) {
            put(src + t * row_len_, row(layer, static_cast<int>(which), pos + t));
        }
    }
}

}  // namespace sluice
