#include "experts/packed_experts.h"

#include "kernels/kernels.h"
#include "util/memory_stats.h"
#include "util/progress.h"
#include "util/thread_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace sluice {
namespace {

// Drops the whole pages inside [p, p + n) of a read-only file mapping from this process; a
// later read faults them back in from the page cache or the file, so this changes no result.
void release_file_pages(const uint8_t * p, uint64_t n) {
    const auto page  = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const auto end   = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (end > begin) {
        ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);  // advice: a failure costs memory only
    }
}

}  // namespace

packed_experts::packed_experts(const expert_store & store, matmul_runner & runner)
    : store_(store),
      layer_at_(static_cast<size_t>(store.n_layer()), k_unpacked),
      matrix_at_(static_cast<size_t>(store.n_layer())),
      expert_size_(static_cast<size_t>(store.n_layer()), 0) {
    const isa i     = runner.target();
    uint64_t  total = 0;
    for (int l = 0; l < store.n_layer(); ++l) {
        if (!store.has_experts(l)) {
            continue;
        }
        const expert_matrices m = store.view(l, 0);
        if (!can_pack(m.gate.type, i) || !can_pack(m.up.type, i) || !can_pack(m.down.type, i)) {
            continue;
        }
        auto & at = matrix_at_[static_cast<size_t>(l)];
        at        = {0, packed_bytes(m.gate), packed_bytes(m.gate) + packed_bytes(m.up)};
        // Whole 64-byte lines per expert, so every packed matrix starts on one.
        expert_size_[static_cast<size_t>(l)] = (at[2] + packed_bytes(m.down) + 63) / 64 * 64;
        layer_at_[static_cast<size_t>(l)]    = total;
        total += expert_size_[static_cast<size_t>(l)] * static_cast<uint64_t>(store.n_expert());
    }
    // The copy needs its bytes in RAM at once: a model whose experts do not fit in 80% of the
    // memory available now stays mapped, as it would run without packing (a model bigger than
    // RAM is what --expert-budget is for).
    if (total == 0 || total > available_memory_bytes() / 5 * 4) {
        std::fill(layer_at_.begin(), layer_at_.end(), k_unpacked);
        return;
    }
    memory_ = page_block(total, "the packed experts");
    progress_bar bar("packing experts", total);
    uint64_t     done = 0;
    for (int l = 0; l < store.n_layer(); ++l) {
        if (layer_at_[static_cast<size_t>(l)] == k_unpacked) {
            continue;
        }
        runner.pool().parallel_for(store.n_expert(), [&](int64_t e, int) {
            const expert_matrices m = store.view(l, static_cast<int>(e));
            auto * const base       = reinterpret_cast<uint8_t *>(memory_.data()) + layer_at_[static_cast<size_t>(l)] +
                                static_cast<uint64_t>(e) * expert_size_[static_cast<size_t>(l)];
            const auto & at = matrix_at_[static_cast<size_t>(l)];
            pack_matrix_rows(m.gate, i, 0, m.gate.rows, base + at[0]);
            pack_matrix_rows(m.up, i, 0, m.up.rows, base + at[1]);
            pack_matrix_rows(m.down, i, 0, m.down.rows, base + at[2]);
        });
        // The stacked tensors hold the layer's experts back to back.
        const uint64_t        n     = static_cast<uint64_t>(store.n_expert());
        const expert_matrices first = store.view(l, 0);
        release_file_pages(first.gate.data, store.slab_gate(l, 0).nbytes * n);
        release_file_pages(first.up.data, store.slab_up(l, 0).nbytes * n);
        release_file_pages(first.down.data, store.slab_down(l, 0).nbytes * n);
        done += expert_size_[static_cast<size_t>(l)] * n;
        bar.update(done);
    }
}

expert_matrices packed_experts::view(int layer, int expert) const {
    const expert_matrices m  = store_.view(layer, expert);
    const uint64_t        at = layer_at_[static_cast<size_t>(layer)];
    if (at == k_unpacked) {
        return m;
    }
    const auto * base = reinterpret_cast<const uint8_t *>(memory_.data()) + at +
                        static_cast<uint64_t>(expert) * expert_size_[static_cast<size_t>(layer)];
    const auto & off = matrix_at_[static_cast<size_t>(layer)];
    return {packed_view(m.gate, base + off[0]), packed_view(m.up, base + off[1]), packed_view(m.down, base + off[2])};
}

}  // namespace sluice
