// matmul_runner: every product goes through matmul_many, which quantizes each distinct input
// once, then splits each job's rows (and tokens) into tasks of one pass over the thread pool.
// Every task calls the same dot_rows kernel (or, for several tokens, the type's dot_tile,
// which applies per (row, token) the arithmetic of dot_rows), whose per-row arithmetic does
// not depend on the grouping, so matvec, matmul, batches of either and any number of threads
// give bit-identical outputs for one ISA. A matrix packed at load (weight_matrix::packed) runs
// its type's packed kernel for any token count, with the same per-(row, token) arithmetic.
#include "kernels/kernels_impl.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <algorithm>
#include <cstdint>

namespace sluice {
namespace {

// Below this many weight bytes a matrix is done on the calling thread: waking the pool costs
// more than the work.
constexpr uint64_t k_min_parallel_bytes = 64 * 1024;

// Rows per task in matvec: about 128 KiB of weights. Smaller tasks cost more than they
// balance: claiming a task, the kernel's set-up and two threads writing neighbouring outputs
// are paid per task, and a decode step's matmul_many has tens of jobs to spread anyway. On
// this machine (2 threads) 16-64-row tasks decoded the padded Q4_K model at 251-278 tok/s and
// 128 KiB tasks at 300-327 (64-256 KiB alike); the bundled model, whose experts are 70 KiB,
// went from 1237-1307 to 2262-2287 tok/s. Whole groups of 16 rows, the row-lanes kernels' unit.
int64_t matvec_rows_per_task(uint64_t row_stride) {
    constexpr uint64_t k_task_bytes = 128 * 1024;
    const auto         rows         = static_cast<int64_t>(k_task_bytes / std::max<uint64_t>(row_stride, 1));
    return (std::clamp<int64_t>(rows, 16, 4096) + 15) / 16 * 16;
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
    // The 16-row kernels address a group's rows with 32-bit offsets (gathers).
    if (w.row_stride > static_cast<uint64_t>(INT32_MAX) / 16) {
        fail("matmul: row stride {} is above the {} bytes the kernels address", w.row_stride, INT32_MAX / 16);
    }
    if (w.packed && (k->packed == nullptr || w.row_stride != row_bytes(w.type, w.cols))) {
        fail("matmul: a packed {} matrix needs packed {} kernels on {} and rows of {} bytes", type_name(w.type),
             type_name(w.type), isa_name(i), row_bytes(w.type, w.cols));
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
    const matmul_job job{&w, x, 1, y};
    matmul_many({&job, 1});
}

void matmul_runner::matvec_many(std::span<const matvec_job> jobs) {
    many_.clear();
    for (const matvec_job & j : jobs) {
        many_.push_back({j.w, j.x, 1, j.y});
    }
    matmul_many(many_);
}

void matmul_runner::matmul(const weight_matrix & w, const float * x, int64_t n_tokens, float * y) {
    const matmul_job job{&w, x, n_tokens, y};
    matmul_many({&job, 1});
}

void matmul_runner::matmul_many(std::span<const matmul_job> jobs) {
    // A job of one token runs dot_rows over row chunks (the matvec split); a job of several
    // runs tiles of rows x tokens: a row tile (<= 128 KiB of weights, 16..64 rows: whole
    // groups of the 16-row kernels) stays hot in L2 while the task runs it against every token
    // of its token tile, so weights are read from memory once per token tile instead of per
    // token.
    constexpr int64_t       tok_tile = 64;
    std::vector<job_plan> & prep     = plans_;
    prep.resize(jobs.size());
    uint64_t total_act = 0, work_bytes = 0, scratch_per_thread = 0;
    int64_t  n_tasks = 0, max_row_tile = 0, max_tokens = 0;
    bool     any_packed = false;
    sources_.clear();
    for (size_t j = 0; j < jobs.size(); ++j) {
        const weight_matrix & w = *jobs[j].w;
        job_plan &            p = prep[j];
        p.k                     = &kernels_for(w, isa_);
        p.act_row               = act_bytes(p.k->act, w.cols);
        const int64_t n         = std::max<int64_t>(jobs[j].n_tokens, 0);
        p.source                = -1;
        p.quantizes             = false;
        if (jobs[j].rows != nullptr) {
            // Picked rows: the input's rows up to the highest picked are quantized once (its
            // entry in sources_), and this job's are copied out below.
            int64_t top = -1;
            for (int64_t t = 0; t < n; ++t) {
                if (jobs[j].rows[t] < 0) {
                    fail("matmul: job {} picks row {} of its input", j, jobs[j].rows[t]);
                }
                top = std::max(top, jobs[j].rows[t]);
            }
            auto src = std::find_if(sources_.begin(), sources_.end(), [&](const picked_input & s) {
                return s.x == jobs[j].x && s.k->act == p.k->act && s.cols == w.cols;
            });
            if (src == sources_.end()) {
                src = sources_.insert(sources_.end(), {jobs[j].x, p.k, w.cols, 0, 0});
            }
            src->n_rows = std::max(src->n_rows, top + 1);
            p.source    = src - sources_.begin();
        } else {
            size_t same = j;
            for (size_t i = 0; i < j && same == j; ++i) {
                if (jobs[i].rows == nullptr && jobs[i].x == jobs[j].x && jobs[i].n_tokens == n &&
                    prep[i].k->act == p.k->act && jobs[i].w->cols == w.cols) {
                    same = i;
                }
            }
            p.quantizes  = same == j;
            p.act_offset = p.quantizes ? total_act : prep[same].act_offset;
            if (p.quantizes) {
                total_act += (p.act_row * static_cast<uint64_t>(n) + 63) / 64 * 64;
            }
        }
        if (n == 1) {
            p.row_tile = matvec_rows_per_task(w.row_stride);
        } else {
            const auto rows_fit = static_cast<int64_t>((128 * 1024) / std::max<uint64_t>(w.row_stride, 1));
            p.row_tile          = std::clamp<int64_t>(rows_fit, 16, 64) / 16 * 16;
        }
        p.n_rtiles   = (w.rows + p.row_tile - 1) / p.row_tile;
        max_row_tile = std::max(max_row_tile, p.row_tile);
        max_tokens   = std::max(max_tokens, n);
        if (w.packed) {
            scratch_per_thread = std::max(scratch_per_thread, p.k->packed->scratch(w.cols, std::min(n, tok_tile)));
            any_packed         = true;
        } else if (n > 1 && p.k->dot_tile != nullptr && p.k->tile_scratch != nullptr) {
            scratch_per_thread = std::max(scratch_per_thread, p.k->tile_scratch(w.cols, std::min(n, tok_tile)));
        }
        p.first_task = n_tasks;
        n_tasks += n == 0 ? 0 : p.n_rtiles * ((n + tok_tile - 1) / tok_tile);
        work_bytes += static_cast<uint64_t>(w.rows) * w.row_stride * static_cast<uint64_t>(n);
    }
    for (picked_input & src : sources_) {
        src.act_offset = total_act;
        total_act += (act_bytes(src.k->act, src.cols) * static_cast<uint64_t>(src.n_rows) + 63) / 64 * 64;
    }
    // A job that picks every row of its input in order reads the input's quantized rows (one
    // token's decode step: every expert); others get their rows copied to a place of their own,
    // once for jobs with the same picks.
    for (size_t j = 0; j < jobs.size(); ++j) {
        job_plan & p = prep[j];
        if (p.source < 0) {
            continue;
        }
        const picked_input & src      = sources_[static_cast<size_t>(p.source)];
        bool                 in_order = jobs[j].n_tokens == src.n_rows;
        for (int64_t t = 0; in_order && t < jobs[j].n_tokens; ++t) {
            in_order = jobs[j].rows[t] == t;
        }
        size_t same = j;  // an earlier job with the same picks (an expert's gate, for its up)
        for (size_t i = 0; i < j && same == j; ++i) {
            if (prep[i].source == p.source && jobs[i].rows == jobs[j].rows && jobs[i].n_tokens == jobs[j].n_tokens) {
                same = i;
            }
        }
        if (in_order) {
            p.source     = -1;
            p.act_offset = src.act_offset;
        } else if (same != j) {
            p.source     = -1;
            p.act_offset = prep[same].act_offset;
        } else {
            p.act_offset = total_act;
            total_act += (p.act_row * static_cast<uint64_t>(jobs[j].n_tokens) + 63) / 64 * 64;
        }
    }
    act_.resize(total_act);
    // Each thread's block (thread_scratch.h): a task's output tile (at most the largest row
    // tile x tok_tile floats), then dot_tile's scratch; both in whole 64-byte lines.
    scratch_per_thread = (scratch_per_thread + 63) / 64 * 64;
    const uint64_t tile_bytes =
        (static_cast<uint64_t>(max_row_tile * std::min(max_tokens, tok_tile)) * sizeof(float) + 63) / 64 * 64;
    scratch_.resize(static_cast<size_t>(pool_.size()));
    std::vector<uint8_t *> & scratch = scratch_at_;
    scratch.resize(scratch_.size());
    if (max_tokens > 1 || any_packed) {
        for (size_t i = 0; i < scratch_.size(); ++i) {
            scratch[i] = scratch_[i].get(tile_bytes + scratch_per_thread);
        }
    }
    quant_.clear();
    for (size_t j = 0; j < jobs.size(); ++j) {
        const int64_t cols = jobs[j].w->cols;
        for (int64_t t = 0; prep[j].quantizes && t < jobs[j].n_tokens; ++t) {
            quant_.push_back({prep[j].k, jobs[j].x + t * cols, cols, prep[j].act_offset + t * prep[j].act_row});
        }
    }
    for (const picked_input & src : sources_) {
        const uint64_t row = act_bytes(src.k->act, src.cols);
        for (int64_t r = 0; r < src.n_rows; ++r) {
            quant_.push_back({src.k, src.x + r * src.cols, src.cols, src.act_offset + r * row});
        }
    }
    quantize_rows();
    for (size_t j = 0; j < jobs.size(); ++j) {
        const job_plan & p = prep[j];
        if (p.source < 0) {
            continue;
        }
        const uint8_t * src = act_.data() + sources_[static_cast<size_t>(p.source)].act_offset;
        for (int64_t t = 0; t < jobs[j].n_tokens; ++t) {
            std::copy_n(src + jobs[j].rows[t] * p.act_row, p.act_row, act_.data() + p.act_offset + t * p.act_row);
        }
    }

    auto run_task = [&](int64_t task, int thread) {
        // The job owning `task`: the last whose first task is <= task (first_task ascends).
        const auto            it = std::upper_bound(prep.begin(), prep.end(), task,
                                                    [](int64_t t, const job_plan & p) { return t < p.first_task; });
        const size_t          j  = static_cast<size_t>(it - prep.begin()) - 1;
        const job_plan &      p  = prep[j];
        const weight_matrix & w  = *jobs[j].w;
        const int64_t         rt = (task - p.first_task) % p.n_rtiles, tt = (task - p.first_task) / p.n_rtiles;
        const int64_t         r0 = rt * p.row_tile, nr = std::min(p.row_tile, w.rows - r0);
        const int64_t         t0 = tt * tok_tile, nt = std::min(tok_tile, jobs[j].n_tokens - t0);
        const uint8_t *       wr  = w.data + static_cast<uint64_t>(r0) * w.row_stride;
        const uint8_t *       act = act_.data() + p.act_offset + static_cast<uint64_t>(t0) * p.act_row;
        float *               y   = jobs[j].y + t0 * w.rows + r0;
        auto * const          own = scratch[static_cast<size_t>(thread)];
        if (w.packed && nt == 1) {
            p.k->packed->dot(w.cols, wr, w.row_stride, nr, act, p.act_row, nt, y, static_cast<uint64_t>(w.rows),
                             own + tile_bytes);
            return;
        }
        if (nt == 1) {
            kern::dot_rows_per_token(p.k->dot_rows, w.cols, wr, w.row_stride, nr, act, p.act_row, nt, y,
                                     static_cast<uint64_t>(w.rows));
            return;
        }
        // Several tokens: into the thread's own output tile [nt][nr], then copied out at once
        // (tasks writing their tiles into the shared output as they went ran slower).
        auto * const tile = reinterpret_cast<float *>(own);
        if (w.packed) {
            p.k->packed->dot(w.cols, wr, w.row_stride, nr, act, p.act_row, nt, tile, static_cast<uint64_t>(nr),
                             own + tile_bytes);
        } else if (p.k->dot_tile != nullptr) {
            p.k->dot_tile(w.cols, wr, w.row_stride, nr, act, p.act_row, nt, tile, static_cast<uint64_t>(nr),
                          own + tile_bytes);
        } else {
            kern::dot_rows_per_token(p.k->dot_rows, w.cols, wr, w.row_stride, nr, act, p.act_row, nt, tile,
                                     static_cast<uint64_t>(nr));
        }
        for (int64_t t = 0; t < nt; ++t) {
            std::copy(tile + t * nr, tile + (t + 1) * nr, y + t * w.rows);
        }
    };
    if (pool_.size() == 1 || work_bytes < k_min_parallel_bytes) {
        for (int64_t task = 0; task < n_tasks; ++task) {
            run_task(task, 0);
        }
    } else {
        pool_.parallel_for(n_tasks, run_task);
    }
}

void matmul_runner::quantize_rows() {
    // Below this many floats in all, the calling thread quantizes them: waking the pool costs
    // more (a decode step's few rows). A prefill's routed experts quantize ~1M per layer.
    constexpr int64_t k_min_parallel_floats = 64 * 1024;
    constexpr int64_t k_rows_per_task       = 16;
    int64_t           floats                = 0;
    for (const quant_row & q : quant_) {
        floats += q.cols;
    }
    const auto n = static_cast<int64_t>(quant_.size());
    parallel_ranges(pool_, n, floats < k_min_parallel_floats ? n : k_rows_per_task, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i) {
            const quant_row & q = quant_[static_cast<size_t>(i)];
            q.k->quantize_act(q.x, act_.data() + q.act_offset, q.cols);
        }
    });
}

}  // namespace sluice
