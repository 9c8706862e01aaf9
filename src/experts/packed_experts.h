// The routed experts of an in-memory model packed once at load, in the kernels' packed form
// for the runner's ISA (kernels.h: 16 rows side by side, as the many-token tiles read them).
// Prefill then skips the tiles' repack per call, which costs most when an expert sees few
// tokens. The packed copies take as many bytes as the file's experts and live in one anonymous
// mapping; once a layer is packed, the file pages its experts came from are dropped from this
// process (madvise), so the experts are resident once, not twice.
#pragma once

#include "experts/expert_store.h"
#include "experts/page_block.h"

#include <array>
#include <cstdint>
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

    // Expert e of layer l: packed views, or the mapping's for a layer left as it was.
    expert_matrices view(int layer, int expert) const;

    // Bytes of packed experts held (0: no layer had a packed form).
    uint64_t bytes() const { return memory_.size(); }

  private:
    static constexpr uint64_t k_unpacked = UINT64_MAX;

    const expert_store &                 store_;
    page_block                           memory_;
    std::vector<uint64_t>                layer_at_;     // [layer]: its first expert in memory_, or k_unpacked
    std::vector<std::array<uint64_t, 3>> matrix_at_;    // [layer]: gate, up, down within an expert
    std::vector<uint64_t>                expert_size_;  // [layer]: one expert's packed bytes
};

}  // namespace sluice
