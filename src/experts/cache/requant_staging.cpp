#include "experts/cache/requant_staging.h"

#include "experts/cache/slot_layout.h"
#include "tensor/quantize.h"
#include "util/error.h"

#include <algorithm>

namespace sluice {

requant_staging::requant_staging(ggml_type type, const expert_store & store, int n_buffers, uint64_t budget)
    : store_(store), type_(type) {
    if (!can_quantize(type)) {
        fail("--cache-type {}: sluice cannot write that type", type_name(type));
    }
    const int64_t d = store.n_embd(), ff = store.n_ff();
    const int64_t block = traits(type).block_size;
    if (d % block != 0 || ff % block != 0) {
        fail("--cache-type {}: expert rows of {} and {} values are not whole blocks of {}", type_name(type), d, ff,
             block);
    }
    // gate and up: ff rows of d values; down: d rows of ff values.
    slot_bytes_ = 2 * static_cast<uint64_t>(ff) * row_bytes(type, d) + static_cast<uint64_t>(d) * row_bytes(type, ff);
    for (int l = 0; l < store.n_layer(); ++l) {
        span_ = std::max(span_, layout_of(store, l).bytes());
    }
    size_ = span_ * static_cast<uint64_t>(n_buffers);
    if (budget <= size_) {
        fail(
            "--expert-budget of {} bytes is too small for --cache-type: {} bytes go to reading experts "
            "before they are converted",
            budget, size_);
    }
    for (int i = n_buffers - 1; i >= 0; --i) {
        free_.push_back(i);
    }
}

void requant_staging::allocate() {
    memory_ = page_block(size_, "staging for the expert cache", true);
}

std::byte * requant_staging::take(int layer, int slot) {
    if (free_.empty()) {
        return nullptr;
    }
    const int buf = free_.back();
    free_.pop_back();
    staged_.push_back({layer, slot, buf});
    return memory_.data() + static_cast<uint64_t>(buf) * span_;
}

std::optional<std::pair<int, int>> requant_staging::oldest() const {
    if (staged_.empty()) {
        return std::nullopt;
    }
    return std::pair{staged_.front().layer, staged_.front().slot};
}

void requant_staging::release(int layer, int slot) {
    const auto it = std::find_if(staged_.begin(), staged_.end(),
                                 [&](const staged & s) { return s.layer == layer && s.slot == slot; });
    if (it == staged_.end()) {
        return;
    }
    free_.push_back(it->buffer);
    staged_.erase(it);
}

// Staging (the file's bytes, as read) -> the slot, row by row through F32.
void requant_staging::convert(int layer, int slot, int32_t expert, std::byte * dest) const {
    const auto it = std::find_if(staged_.begin(), staged_.end(),
                                 [&](const staged & s) { return s.layer == layer && s.slot == slot; });
    if (it == staged_.end()) {
        fail("expert cache: slot {} of layer {} has nothing staged to convert", slot, layer);
    }
    const std::byte *     from = memory_.data() + static_cast<uint64_t>(it->buffer) * span_;
    const expert_matrices in   = slot_view(store_, layer, expert, from);
    std::vector<float>    row;
    for (const weight_matrix * m : {&in.gate, &in.up, &in.down}) {
        const uint64_t out = row_bytes(type_, m->cols);
        row.resize(static_cast<size_t>(m->cols));
        for (int64_t r = 0; r < m->rows; ++r) {
            dequantize_row(m->type, m->data + static_cast<uint64_t>(r) * m->row_stride, row.data(), m->cols);
            quantize_row(type_, row.data(), dest + static_cast<uint64_t>(r) * out, m->cols);
        }
        dest += static_cast<uint64_t>(m->rows) * out;
    }
}

expert_matrices requant_staging::view(const std::byte * slot) const {
    const int64_t  d = store_.n_embd(), ff = store_.n_ff();
    const auto *   p = reinterpret_cast<const uint8_t *>(slot);
    const uint64_t g = static_cast<uint64_t>(ff) * row_bytes(type_, d);
    return expert_matrices{weight_matrix{type_, ff, d, row_bytes(type_, d), p},
                           weight_matrix{type_, ff, d, row_bytes(type_, d), p + g},
                           weight_matrix{type_, d, ff, row_bytes(type_, ff), p + 2 * g}};
}

}  // namespace sluice
