// Matrix x vector (decode) and matrix x matrix (prefill) over stored weight types.
//
// Like fast engines, activations are quantized per block to 8 bits (Q8_0 / Q8_1 for the
// 32-element types, Q8_K for the K-quants) and dotted with integer arithmetic; F32, F16 and
// BF16 weights take F32 activations. Each weight type has a scalar reference implementation
// (the oracle in tests) and AVX2 / AVX-512 paths, chosen once from CPUID or forced by the
// caller (engine_options::force_isa, the CLI's --isa).
#pragma once

#include "kernels/thread_scratch.h"
#include "tensor/types.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sluice {

class thread_pool;

enum class isa { SCALAR = 0, AVX2 = 1, AVX512 = 2 };

std::string_view isa_name(isa i);

// Parses "scalar", "avx2" or "avx512"; nullopt otherwise.
std::optional<isa> parse_isa_name(std::string_view name);

// Whether this CPU can run kernels of ISA i (CPUID).
bool isa_supported(isa i);

// The best ISA this CPU runs (CPUID, read once).
isa detect_isa();

// `requested` if this CPU can run it (throws naming the best it can otherwise), or
// detect_isa() when nothing is requested.
isa choose_isa(std::optional<isa> requested);

// Activation formats a weight type consumes.
enum class act_format { F32, Q8_0, Q8_1, Q8_K };

// The kernels for one weight type on one ISA.
struct type_kernels {
    act_format act = act_format::F32;
    // Converts n F32 activations into `act` blocks at dst (act_bytes(n) bytes).
    void (*quantize_act)(const float * x, void * dst, int64_t n) = nullptr;
    // out[r] = dot(row r, act) for rows [0, n_rows); rows are `row_stride` bytes apart.
    void (*dot_rows)(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, const void * act,
                     float * out) = nullptr;
    // Several tokens at once: out[t * out_stride + r] = dot(row r, activations of token t) for
    // rows [0, n_rows) and tokens [0, n_tok), token t's activations at act + t * act_stride
    // bytes. Each (row, token) result is bit-identical to dot_rows on that token. `scratch`:
    // tile_scratch(n, n_tok) bytes, 64-byte aligned, where the kernel may decode rows and
    // regroup activations once per call. nullptr: the caller runs dot_rows once per token.
    void (*dot_tile)(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, const void * act,
                     uint64_t act_stride, int64_t n_tok, float * out, uint64_t out_stride, void * scratch) = nullptr;
    // Bytes of scratch dot_tile needs for n columns and n_tok tokens; nullptr: none.
    uint64_t (*tile_scratch)(int64_t n, int64_t n_tok) = nullptr;
};

// Bytes of n activations in format f.
uint64_t act_bytes(act_format f, int64_t n);

// Kernels of type t for ISA i (falling back to a lower ISA for anything i lacks, and never
// above what the CPU supports); nullptr if t is not computable.
const type_kernels * find_kernels(ggml_type t, isa i);

// A weight matrix: `rows` rows of `cols` elements of `type`, rows `row_stride` bytes apart.
struct weight_matrix {
    ggml_type       type;
    int64_t         rows;
    int64_t         cols;
    uint64_t        row_stride;
    const uint8_t * data;
};

// out[0..n) = sum_j w[j] * row_j[0..n), over n_rows rows of F32 or F16 values `stride`
// bytes apart: attention's weighted sum of cached values. AVX2 converts F16 in hardware
// (F16C); the scalar path is the reference.
void weighted_row_sum(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                      float * out, isa i);

// One matrix x vector product of a batch run by matmul_runner::matvec_many.
struct matvec_job {
    const weight_matrix * w;
    const float *         x;  // w->cols floats
    float *               y;  // w->rows floats
};

// One matrix x matrix product of a batch run by matmul_runner::matmul_many:
// Y[t][r] = W[r,:] . X[t][:] for n_tokens rows of X (w->cols floats each) and of Y (w->rows).
struct matmul_job {
    const weight_matrix * w;
    const float *         x;
    int64_t               n_tokens;
    float *               y;
};

// Runs matrix products on one thread pool with one ISA, reusing its activation scratch.
class matmul_runner {
  public:
    matmul_runner(thread_pool & pool, isa i);

    // y[r] = W[r,:] . x[:]             x: cols floats, y: rows floats
    void matvec(const weight_matrix & w, const float * x, float * y);

    // Several matrix x vector products in one pass over the pool (one wake-up instead of
    // one per matrix): the experts of a decoded token, or Q/K/V. An input shared by several
    // jobs (same pointer) is quantized once. Results equal matvec() of each job.
    void matvec_many(std::span<const matvec_job> jobs);

    // Y[t][r] = W[r,:] . X[t][:]       X: n_tokens x cols (row-major), Y: n_tokens x rows
    void matmul(const weight_matrix & w, const float * x, int64_t n_tokens, float * y);

    // Several matrix x matrix products in one pass over the pool: the experts of a batched
    // decode step, each with the few tokens that chose it. Inputs shared by several jobs
    // (same pointer and token count) are quantized once. Results equal matmul() of each job,
    // and each row of a job with one token equals matvec().
    void matmul_many(std::span<const matmul_job> jobs);

    isa           target() const { return isa_; }
    thread_pool & pool() const { return pool_; }

  private:
    // How matmul_many runs one job: its kernels, where its quantized tokens sit in act_
    // (quantizes: this job writes them; else an earlier job with the same input did), and how
    // its rows x tokens split into tasks.
    struct job_plan {
        const type_kernels * k;
        bool                 quantizes;
        uint64_t             act_offset;
        uint64_t             act_row;
        int64_t              row_tile;
        int64_t              n_rtiles;
        int64_t              first_task;
    };

    thread_pool &               pool_;
    isa                         isa_;
    std::vector<uint8_t>        act_;
    std::vector<job_plan>       plans_;       // reused: a decode step calls matmul_many ~100 times
    std::vector<matmul_job>     many_;        // matvec_many's jobs as matmul_jobs
    std::vector<thread_scratch> scratch_;     // one per pool thread: dot_tile's scratch and output tiles
    std::vector<uint8_t *>      scratch_at_;  // matmul_many's: each thread's block this call
};

}  // namespace sluice
