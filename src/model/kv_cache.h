// Keys and values of every past position, per layer: [n_ctx][n_head_kv * head_dim] each,
// stored as F32 or F16 (--kv-type). F16 halves the memory and the bytes attention reads
// per token; F32 is exact. A keys-only cache (with_values = false) holds one row per
// position: multi-head latent attention caches its latent there and reads values from it.
//
// The memory is an anonymous mapping reserved for n_ctx positions but committed by the
// kernel page by page as positions are first written, so a large context costs address
// space, not RAM, until the sequence grows into it (issue 16 item 8).
#pragma once

#include "tensor/types.h"

#include <cstdint>

namespace sluice {

class kv_cache {
  public:
    kv_cache(int64_t n_layer, int64_t n_ctx, int64_t row_len, ggml_type type, bool with_values = true);
    ~kv_cache();
    kv_cache(const kv_cache &)             = delete;
    kv_cache & operator=(const kv_cache &) = delete;

    int64_t   n_ctx() const { return n_ctx_; }
    int64_t   row_len() const { return row_len_; }
    ggml_type type() const { return type_; }
    uint64_t  bytes() const { return bytes_; }  // reserved, not necessarily resident
    uint64_t  element_bytes() const { return type_ == ggml_type::F32 ? 4 : 2; }
    uint64_t  row_stride() const { return row_bytes_; }  // bytes from one position to the next

    // Stores n rows of keys and values (row_len floats each) at positions pos..pos+n-1; v is
    // ignored (may be null) in a keys-only cache.
    void store(int64_t layer, int64_t pos, int64_t n, const float * k, const float * v);

    // Row `pos` of layer `layer`, in the cache's type.
    const void * key_row(int64_t layer, int64_t pos) const { return row(layer, 0, pos); }
    const void * value_row(int64_t layer, int64_t pos) const { return row(layer, 1, pos); }

  private:
    const void * row(int64_t layer, int which, int64_t pos) const {
        return data_ + ((static_cast<uint64_t>(layer) * n_arrays_ + which) * n_ctx_ + pos) * row_bytes_;
    }
    void * row(int64_t layer, int which, int64_t pos) {
        return data_ + ((static_cast<uint64_t>(layer) * n_arrays_ + which) * n_ctx_ + pos) * row_bytes_;
    }

    int64_t   n_ctx_;
    int64_t   row_len_;
    ggml_type type_;
    uint64_t  row_bytes_;
    uint64_t  n_arrays_;  // 2: keys and values; 1: keys only
    uint64_t  bytes_ = 0;
    uint8_t * data_  = nullptr;
};

}  // namespace sluice
