#include "experts/packed_experts.h"

#include "experts/packed_file.h"
#include "kernels/kernels.h"
#include "util/memory_stats.h"
#include "util/progress.h"
#include "util/thread_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
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
    const isa      i     = runner.target();
    const uint64_t total = plan(i);
    if (total == 0) {
        return;
    }
    fill(runner, total, store, "packing experts", [&](int l, int e, uint8_t * base) {
        const expert_matrices m  = store.view(l, e);
        const auto &          at = matrix_at_[static_cast<size_t>(l)];
        pack_matrix_rows(m.gate, i, 0, m.gate.rows, base + at[0]);
        pack_matrix_rows(m.up, i, 0, m.up.rows, base + at[1]);
        pack_matrix_rows(m.down, i, 0, m.down.rows, base + at[2]);
    });
}

packed_experts::packed_experts(const expert_store & store, const std::string & packed_path, matmul_runner & runner)
    : store_(store),
      layer_at_(static_cast<size_t>(store.n_layer()), k_unpacked),
      matrix_at_(static_cast<size_t>(store.n_layer())),
      expert_size_(static_cast<size_t>(store.n_layer()), 0),
      file_(std::make_unique<gguf_file>(gguf_file::open(packed_path))) {
    file_store_.emplace(packed_store_of(store, *file_, runner.target()));
    // The file's matrices have whole groups of 16 rows (packed_store_of checks they have the
    // model's shapes and types, so its bytes), so each is one copy into the place packing
    // would write it.
    const uint64_t total = plan(runner.target());
    if (total == 0) {
        return;  // views of the file
    }
    fill(runner, total, *file_store_, "loading packed experts", [&](int l, int e, uint8_t * base) {
        const expert_matrices m  = file_store_->view(l, e);
        const auto &          at = matrix_at_[static_cast<size_t>(l)];
        std::memcpy(base + at[0], m.gate.data, static_cast<size_t>(m.gate.row_stride * m.gate.rows));
        std::memcpy(base + at[1], m.up.data, static_cast<size_t>(m.up.row_stride * m.up.rows));
        std::memcpy(base + at[2], m.down.data, static_cast<size_t>(m.down.row_stride * m.down.rows));
    });
}

uint64_t packed_experts::plan(isa target) {
    uint64_t total = 0;
    for (int l = 0; l < store_.n_layer(); ++l) {
        if (!store_.has_experts(l)) {
            continue;
        }
        const expert_matrices m = store_.view(l, 0);
        if (!can_pack(m.gate.type, target) || !can_pack(m.up.type, target) || !can_pack(m.down.type, target)) {
            continue;
        }
        auto & at = matrix_at_[static_cast<size_t>(l)];
        at        = {0, packed_bytes(m.gate), packed_bytes(m.gate) + packed_bytes(m.up)};
        // Whole 64-byte lines per expert, so every packed matrix starts on one.
        expert_size_[static_cast<size_t>(l)] = (at[2] + packed_bytes(m.down) + 63) / 64 * 64;
        layer_at_[static_cast<size_t>(l)]    = total;
        total += expert_size_[static_cast<size_t>(l)] * static_cast<uint64_t>(store_.n_expert());
    }
    // The copy needs its bytes in RAM at once: a model whose experts do not fit in 80% of the
    // memory available now stays mapped, as it would run without packing (a model bigger than
    // RAM is what --expert-budget is for).
    if (total == 0 || total > available_memory_bytes() / 5 * 4) {
        std::fill(layer_at_.begin(), layer_at_.end(), k_unpacked);
        return 0;
    }
    return total;
}

void packed_experts::fill(matmul_runner & runner, uint64_t total, const expert_store & from, const char * label,
                          const std::function<void(int, int, uint8_t *)> & fill_expert) {
    memory_ = page_block(total, "the packed experts");
    progress_bar bar(label, total);
    uint64_t     done = 0;
    for (int l = 0; l < store_.n_layer(); ++l) {
        if (layer_at_[static_cast<size_t>(l)] == k_unpacked) {
            continue;
        }
        runner.pool().parallel_for(store_.n_expert(), [&](int64_t e, int) {
            auto * const base = reinterpret_cast<uint8_t *>(memory_.data()) + layer_at_[static_cast<size_t>(l)] +
                                static_cast<uint64_t>(e) * expert_size_[static_cast<size_t>(l)];
            fill_expert(l, static_cast<int>(e), base);
        });
        // The stacked tensors hold the layer's experts back to back.
        const uint64_t        n     = static_cast<uint64_t>(store_.n_expert());
        const expert_matrices first = from.view(l, 0);
        release_file_pages(first.gate.data, from.slab_gate(l, 0).nbytes * n);
        release_file_pages(first.up.data, from.slab_up(l, 0).nbytes * n);
        release_file_pages(first.down.data, from.slab_down(l, 0).nbytes * n);
        done += expert_size_[static_cast<size_t>(l)] * n;
        bar.update(done);
    }
}

expert_matrices packed_experts::view(int layer, int expert) const {
    const uint64_t at = layer_at_[static_cast<size_t>(layer)];
    if (at == k_unpacked && file_store_) {
        expert_matrices m = file_store_->view(layer, expert);
        m.gate.packed = m.up.packed = m.down.packed = true;
        return m;
    }
    const expert_matrices m = store_.view(layer, expert);
    if (at == k_unpacked) {
        return m;
    }
    const auto * base = reinterpret_cast<const uint8_t *>(memory_.data()) + at +
                        static_cast<uint64_t>(expert) * expert_size_[static_cast<size_t>(layer)];
    const auto & off = matrix_at_[static_cast<size_t>(layer)];
    return {packed_view(m.gate, base + off[0]), packed_view(m.up, base + off[1]), packed_view(m.down, base + off[2])};
}

}  // namespace sluice
