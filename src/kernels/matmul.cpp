// matmul_runner: quantizes activations once per call, then splits rows (and, for prefill,
// tokens) into tasks on the thread pool. Every task calls the same dot_rows kernel (or, for
// several tokens, the type's dot_tile, which applies per (row, token) the arithmetic of
// dot_rows), whose per-row arithmetic does not depend on the grouping, so matvec, matmul and
// any number of threads give bit-identical outputs for one ISA.
#include "kernels/kernels_impl.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <algorithm>

namespace sluice {
namespace {

// Below this many weight bytes a matrix is done on the calling thread: waking the pool costs
// more than the work.
constexpr uint64_t k_min_parallel_bytes = 64 * 1024;

// Rows per task in matvec: about eight tasks per thread so a 768-row expert keeps both
// threads of a 2-thread pool busy to the end, but never so few rows that the per-task
// overhead or the 4-row kernel groups stop amortising.
int64_t matvec_rows_per_task(int64_t rows, int n_threads) {
    int64_t chunk = rows / (static_cast<int64_t>(n_threads) * 8);
    chunk         = std::clamp<int64_t>(chunk, 16, 64);
    return (chunk + 3) / 4 * 4;
}

const type_kernels & kernels_for(const weight_matrix & w, isa i) {
    const type_kernels * k = find_kernels(w.type, i);
    if (k == nullptr) {
        fail("matmul: weight type {} is not computable", type_name(w.type));
    }
    const int64_t bs = traits(w.type).block_size;
    if (w.cols <= 0 || w.rows < 0 || w.cols % bs != 0) {
        fail("matmul: {} x {} matrix of {}: columns must be a positive multiple of {}", w.rows, w.cols,
             type_name(w.type), bs);
    }
    if (w.row_stride < row_bytes(w.type, w.cols)) {
        fail("matmul: row stride {} is below the {} bytes of a row", w.row_stride, row_bytes(w.type, w.cols));
    }
    return *k;
}

}  // namespace

matmul_runner::matmul_runner(thread_pool & pool, isa i) : pool_(pool), isa_(i) {
    if (!isa_supported(i)) {
        fail("matmul: this CPU cannot run {} kernels", isa_name(i));
    }
}

void matmul_runner::matvec(const weight_matrix & w, const float * x, float * y) {
    const type_kernels & k = kernels_for(w, isa_);
    act_.resize(act_bytes(k.act, w.cols));
    k.quantize_act(x, act_.data(), w.cols);
    const void * act = act_.data();

    const uint64_t bytes = static_cast<uint64_t>(w.rows) * w.row_stride;
    if (pool_.size() == 1 || bytes < k_min_parallel_bytes) {
        k.dot_rows(w.cols, w.data, w.row_stride, w.rows, act, y);
        return;
    }
    const int64_t chunk   = matvec_rows_per_task(w.rows, pool_.size());
    const int64_t n_tasks = (w.rows + chunk - 1) / chunk;
    pool_.parallel_for(n_tasks, [&](int64_t task, int) {
        const int64_t r0 = task * chunk;
        const int64_t nr = std::min(chunk, w.rows - r0);
        k.dot_rows(w.cols, w.data + static_cast<uint64_t>(r0) * w.row_stride, w.row_stride, nr, act, y + r0);
    });
}

void matmul_runner::matvec_many(std::span<const matvec_job> jobs) {
    // Quantize each distinct input once, into consecutive slices of the scratch buffer.
    struct prepared {
        const type_kernels * k;
        uint64_t             act_offset;
        int64_t              chunk;
        int64_t              first_task;
    };
    std::vector<prepared> prep(jobs.size());
    uint64_t              total_act = 0;
    for (size_t j = 0; j < jobs.size(); ++j) {
        prep[j].k   = &kernels_for(*jobs[j].w, isa_);
        size_t same = j;
        for (size_t i = 0; i < j; ++i) {
            if (jobs[i].x == jobs[j].x && prep[i].k->act == prep[j].k->act && jobs[i].w->cols == jobs[j].w->cols) {
                same = i;
                break;
            }
        }
        if (same != j) {
            prep[j].act_offset = prep[same].act_offset;
        } else {
            prep[j].act_offset = total_act;
            total_act += (act_bytes(prep[j].k->act, jobs[j].w->cols) + 63) / 64 * 64;
        }
    }
    act_.resize(total_act);
    int64_t n_tasks = 0;
    for (size_t j = 0; j < jobs.size(); ++j) {
        bool first_use = true;
        for (size_t i = 0; i < j; ++i) {
            first_use = first_use && prep[i].act_offset != prep[j].act_offset;
        }
        if (first_use) {
            prep[j].k->quantize_act(jobs[j].x, act_.data() + prep[j].act_offset, jobs[j].w->cols);
        }
        prep[j].chunk      = matvec_rows_per_task(jobs[j].w->rows, pool_.size());
        prep[j].first_task = n_tasks;
        n_tasks += (jobs[j].w->rows + prep[j].chunk - 1) / prep[j].chunk;
    }
    auto run_task = [&](int64_t task, int) {
        size_t j = 0;
        while (j + 1 < jobs.size() && prep[j + 1].first_task <= task) {
            ++j;
        }
        const weight_matrix & w  = *jobs[j].w;
        const int64_t         r0 = (task - prep[j].first_task) * prep[j].chunk;
        const int64_t         nr = std::min(prep[j].chunk, w.rows - r0);
        prep[j].k->dot_rows(w.cols, w.data + static_cast<uint64_t>(r0) * w.row_stride, w.row_stride, nr,
                            act_.data() + prep[j].act_offset, jobs[j].y + r0);
    };
    uint64_t bytes = 0;
    for (const matvec_job & j : jobs) {
        bytes += static_cast<uint64_t>(j.w->rows) * j.w->row_stride;
    }
    if (pool_.size() == 1 || bytes < k_min_parallel_bytes) {
        for (int64_t t = 0; t < n_tasks; ++t) {
            run_task(t, 0);
        }
    } else {
        pool_.parallel_for(n_tasks, run_task);
    }
}

void matmul_runner::matmul(const weight_matrix & w, const float * x, int64_t n_tokens, float * y) {
    if (n_tokens == 1) {
        matvec(w, x, y);
        return;
    }
    const type_kernels & k = kernels_for(w, isa_);
    if (n_tokens <= 0) {
        return;
    }
    const uint64_t act_row = act_bytes(k.act, w.cols);
    act_.resize(act_row * static_cast<uint64_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) {
        k.quantize_act(x + t * w.cols, act_.data() + static_cast<uint64_t>(t) * act_row, w.cols);
    }

    // Tiles of rows x tokens: a row tile (<= 128 KiB of weights, 4..64 rows) stays hot in L2
    // while the task runs it against every token of its token tile, so weights are read from
    // memory once per token tile instead of once per token.
    const int64_t   rows_fit = static_cast<int64_t>((128 * 1024) / std::max<uint64_t>(w.row_stride, 1));
    int64_t         row_tile = std::clamp<int64_t>(rows_fit, 4, 64) / 4 * 4;
    const int64_t   tok_tile = 64;
    const int64_t   n_rtiles = (w.rows + row_tile - 1) / row_tile;
    const int64_t   n_ttiles = (n_tokens + tok_tile - 1) / tok_tile;
    const uint8_t * act_all  = act_.data();

    auto run_tile = [&](int64_t task, int) {
        const int64_t   rt = task % n_rtiles, tt = task / n_rtiles;
        const int64_t   r0 = rt * row_tile, nr = std::min(row_tile, w.rows - r0);
        const int64_t   t0 = tt * tok_tile, nt = std::min(tok_tile, n_tokens - t0);
        const uint8_t * wr = w.data + static_cast<uint64_t>(r0) * w.row_stride;
        if (k.dot_tile != nullptr) {
            k.dot_tile(w.cols, wr, w.row_stride, nr, act_all + static_cast<uint64_t>(t0) * act_row, act_row, nt,
                       y + t0 * w.rows + r0, static_cast<uint64_t>(w.rows));
            return;
        }
        for (int64_t t = t0; t < t0 + nt; ++t) {
            k.dot_rows(w.cols, wr, w.row_stride, nr, act_all + static_cast<uint64_t>(t) * act_row, y + t * w.rows + r0);
        }
    };
    const int64_t n_tasks = n_rtiles * n_ttiles;
    if (pool_.size() == 1) {
        for (int64_t task = 0; task < n_tasks; ++task) {
            run_tile(task, 0);
        }
    } else {
        pool_.parallel_for(n_tasks, run_tile);
    }
}

}  // namespace sluice
