// Keys and values of every past position, per layer: n_ctx x [n_head_kv * head_dim] each,
// stored as F32 or F16 (--kv-type). F16 halves the memory and the bytes attention reads
// per token; F32 is exact.
//
// With values (attention), values are rows and keys are kept in lanes (kernels.h): each run
// of 16 positions is one group [row_len][16], a dimension's 16 positions side by side, which
// is what attend_block reads. Positions are allocated in whole blocks of 64, so a block's
// four groups always lie in the mapping. A keys-only cache (with_values = false) holds one
// row per position: multi-head latent attention caches its latent there and reads values
// from it.
//
// The memory is an anonymous mapping reserved for n_ctx positions but committed by the
// kernel page by page as positions are first written, so a large context costs address
// space, not RAM, until the sequence grows into it (issue 16 item 8).
#pragma once

#include "kernels/kernels.h"
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
    // ignored (may be null) in a keys-only cache. F16 rounds on ISA i (to_f16).
    void store(int64_t layer, int64_t pos, int64_t n, const float * k, const float * v, isa i);

    bool keys_in_lanes() const { return n_arrays_ == 2; }

    // A keys-only cache's row `pos` of layer `layer`, in the cache's type.
    const void * key_row(int64_t layer, int64_t pos) const { return row(layer, 0, pos); }
    // Keys in lanes: the group of positions 16 g .. 16 g + 15 of layer `layer`, [row_len][16]
    // elements; the next group is key_group_stride() bytes further.
    const void * key_group(int64_t layer, int64_t g) const { return row(layer, 0, g * 16); }
    uint64_t     key_group_stride() const { return 16 * row_bytes_; }
    const void * value_row(int64_t layer, int64_t pos) const { return row(layer, 1, pos); }

  private:
    const void * row(int64_t layer, int which, int64_t pos) const {
        return data_ + ((static_cast<uint64_t>(layer) * n_arrays_ + which) * n_pos_ + pos) * row_bytes_;
    }
    void * row(int64_t layer, int which, int64_t pos) {
        return data_ + ((static_cast<uint64_t>(layer) * n_arrays_ + which) * n_pos_ + pos) * row_bytes_;
    }

    int64_t   n_ctx_;
    int64_t   n_pos_;  // positions allocated per array: n_ctx, rounded up to 64 with values
    int64_t   row_len_;
    ggml_type type_;
    uint64_t  row_bytes_;
    uint64_t  n_arrays_;  // 2: keys and values; 1: keys only
    uint64_t  bytes_ = 0;
    uint8_t * data_  = nullptr;
};

}  // namespace sluice
