// The routed experts of an in-memory model packed once at load, in the kernels' packed form
// for the runner's ISA (kernels.h: 16 rows side by side, as the many-token tiles read them).
// Prefill then skips the tiles' repack per call, which costs most when an expert sees few
// tokens. The packed copies take as many bytes as the file's experts and live in one anonymous
// mapping; once a layer is packed, the file pages its experts came from are dropped from this
// process (madvise), so the experts are resident once, not twice.
//
// Or the experts come packed already, from a file `sluice pack-experts` wrote
// (experts/packed_file.h): then they are copied into the same memory (a copy, not a pack:
// faster to load), or, where they do not fit, used as views of that file's mapping.
#pragma once

#include "experts/expert_store.h"
#include "experts/page_block.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

class matmul_runner;

class packed_experts {
  public:
    // Packs, on the runner's pool, every layer whose three expert types have a packed form on
    // the runner's ISA; the other layers' experts stay views of the mapping. A progress bar on
    // a terminal. Experts that do not fit in 80% of the memory available now stay mapped. The
    // store must not be a shard (its other ranks' experts have no bytes here).
    packed_experts(const expert_store & store, matmul_runner & runner);
    // The experts of `store` as packed for the runner's ISA in the file at packed_path,
    // checked (packed_store_of; throws naming what does not match), copied on the runner's
    // pool; where they do not fit in 80% of the memory available, views of that file.
    packed_experts(const expert_store & store, const std::string & packed_path, matmul_runner & runner);

    // Expert e of layer l: packed views, or the mapping's for a layer left as it was.
    expert_matrices view(int layer, int expert) const;

    // Bytes of packed experts held (0: no layer had a packed form), in memory or the file.
    uint64_t bytes() const { return file_store_ && memory_.size() == 0 ? file_store_->total_bytes() : memory_.size(); }

  private:
    static constexpr uint64_t k_unpacked = UINT64_MAX;

    // Where each layer whose experts have a packed form on `target` goes in memory_; returns
    // the bytes, or 0 (and every layer unpacked) when they would not fit.
    uint64_t plan(isa target);
    // Fills memory_ (`total` bytes, as plan() returned) layer by layer on the pool,
    // fill(layer, expert, its packed bytes' start), then drops the source's file pages
    // (`from`: the store the bytes came from).
    void fill(matmul_runner & runner, uint64_t total, const expert_store & from, const char * label,
              const std::function<void(int, int, uint8_t *)> & fill_expert);

    const expert_store &                 store_;
    page_block                           memory_;
    std::vector<uint64_t>                layer_at_;     // [layer]: its first expert in memory_, or k_unpacked
    std::vector<std::array<uint64_t, 3>> matrix_at_;    // [layer]: gate, up, down within an expert
    std::vector<uint64_t>                expert_size_;  // [layer]: one expert's packed bytes
    std::unique_ptr<gguf_file>           file_;         // a file of packed experts, mapped
    std::optional<expert_store>          file_store_;   // its experts
};

}  // namespace sluice
