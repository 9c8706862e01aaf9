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

// A type's kernels on matrices packed at load (weight_matrix::packed).
struct packed_kernels {
    // Writes rows [0, n_rows) of a plain matrix (n columns, rows row_stride bytes apart) to dst
    // in the packed form: groups of 16 rows, each as row_bytes * 16 bytes (the last group's
    // missing rows repeat its last row), group g at dst + 16 g * row_bytes.
    void (*pack)(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, void * dst) = nullptr;
    // dot_tile's contract on packed rows (w at a group's start, row_stride its row bytes) for
    // any n_tok >= 1, bit-identical to dot_rows on the plain rows; scratch: scratch(n, n_tok)
    // bytes, 64-byte aligned.
    void (*dot)(int64_t n, const void * w, uint64_t row_stride, int64_t n_rows, const void * act, uint64_t act_stride,
                int64_t n_tok, float * out, uint64_t out_stride, void * scratch) = nullptr;
    uint64_t (*scratch)(int64_t n, int64_t n_tok)                                = nullptr;
};

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
    // The packed form's kernels; nullptr: this type has none on this ISA.
    const packed_kernels * packed = nullptr;
};

// Bytes of n activations in format f.
uint64_t act_bytes(act_format f, int64_t n);

// Kernels of type t for ISA i (falling back to a lower ISA for anything i lacks, and never
// above what the CPU supports); nullptr if t is not computable.
const type_kernels * find_kernels(ggml_type t, isa i);

// A weight matrix: `rows` rows of `cols` elements of `type`, rows `row_stride` bytes apart;
// or, `packed`, the same rows in the packed form of the runner's ISA (pack_matrix_rows), with
// row_stride their row bytes: only a runner of that ISA computes it.
struct weight_matrix {
    ggml_type       type;
    int64_t         rows;
    int64_t         cols;
    uint64_t        row_stride;
    const uint8_t * data;
    bool            packed = false;
};

// ---- weights packed at load ----
// Where an ISA has a packed form for a type (Q8_0, Q4_K, Q5_K, Q6_K on AVX-512), a matrix can
// be rewritten once so that 16 rows lie side by side as the many-token tiles read them: a
// token's block is then a run of vpdpbusd over one stream, with no repack per call (which
// costs most when an expert sees few tokens) and no 16 row streams per decoded token. The
// form is size-neutral: each group of 16 rows takes the bytes of 16 rows.

constexpr int64_t k_packed_group_rows = 16;

// The version of the packed forms, written into files of experts packed ahead of time
// (`sluice pack-experts`, experts/packed_file.h) and checked when they are read: change it
// with any packed form's layout, so an older file is refused instead of computing garbage.
constexpr uint32_t k_packed_format_version = 1;

// Whether matrices of type t have a packed form on ISA i.
bool can_pack(ggml_type t, isa i);

// Bytes of w packed: its rows rounded up to a whole group of 16.
uint64_t packed_bytes(const weight_matrix & w);

// Writes rows [r0, r1) of plain matrix w packed into dst, the whole packed matrix's buffer
// (packed_bytes(w) bytes); r0 is a multiple of 16, and r1 too unless it is w.rows. Disjoint
// row ranges may be packed by different threads. Requires can_pack(w.type, i).
void pack_matrix_rows(const weight_matrix & w, isa i, int64_t r0, int64_t r1, uint8_t * dst);

// Packs one group of 16 contiguous rows of type t (`cols` columns, row_bytes(t, cols) bytes
// each) where they lie: the form is size-neutral, so the group's bytes become its packed
// bytes. `scratch`: 16 x row_bytes bytes, disjoint from the rows. A streamed expert is packed
// this way in its slot once its read lands (experts/streaming_source.h). Requires can_pack(t, i).
void pack_group_in_place(ggml_type t, isa i, int64_t cols, uint8_t * rows, uint8_t * scratch);

// The packed copy of w at dst as a weight matrix.
weight_matrix packed_view(const weight_matrix & w, const uint8_t * dst);

// out[0..n) = sum_j w[j] * row_j[0..n), over n_rows rows of F32 or F16 values `stride`
// bytes apart: attention's weighted sum of cached values. AVX2 converts F16 in hardware
// (F16C); the scalar path is the reference.
void weighted_row_sum(ggml_type t, const void * rows, uint64_t stride, int64_t n_rows, const float * w, int64_t n,
                      float * out, isa i);

// ---- flash attention ----
// Attention visits keys in blocks of k_attention_block positions (aligned to position 0). The
// cache keeps keys "in lanes": each run of k_key_lanes positions is stored transposed, one
// dimension's 16 positions side by side ([dims][16] elements), so a block's scores for one
// query are a run of vector multiply-adds over the dims with no horizontal sums, and a
// block's keys are read once for every query vector that shares them. Values stay rows.

constexpr int64_t k_attention_block = 64;
constexpr int64_t k_key_lanes       = 16;

// One block of keys and values of one kv head against n_q query vectors, folded into each
// vector's online softmax. Per query vector v, with visible positions [lo[v], hi[v]) of the
// block (relative to its first position; lo >= hi: none):
//   s_j  = scale * (q_v . K_j)  for visible j;  m' = max(m[v], max_j s_j)
//   p_j  = exp(s_j - m');  alpha = exp(m[v] - m') (0 when m[v] = -inf)
//   l[v] = l[v] alpha + sum_j p_j;  acc[v] = acc[v] alpha + sum_j p_j V_j;  m[v] = m'
// What a vector gets depends only on its own inputs, never on the others in the call, so a
// query computed in any tile, chunk or thread split gets the same bits (for one ISA).
struct attention_block_args {
    int64_t        head_dim         = 0;         // a multiple of 16 on the SIMD paths
    int64_t        n_q              = 0;         // query vectors
    const float *  q                = nullptr;   // [n_q][head_dim]
    const void *   keys             = nullptr;   // the block's first group of k_key_lanes positions of this head
    uint64_t       key_group_stride = 0;         // bytes from one group of 16 positions to the next
    const void *   values           = nullptr;   // the value row of the block's first position
    uint64_t       value_stride     = 0;         // bytes between value rows
    const int32_t *lo = nullptr, *hi = nullptr;  // [n_q]: visible positions, 0 <= lo, hi <= 64
    float          scale = 1.0f;
    float *        m = nullptr, *l = nullptr;  // [n_q]: running max and denominator
    float *        acc     = nullptr;          // [n_q][head_dim]: running value sums
    float *        scratch = nullptr;          // attention_block_scratch(n_q) floats
};

// Floats of scratch attend_block needs for n_q query vectors.
int64_t attention_block_scratch(int64_t n_q);

// The ISA attend_block runs on when asked for i with heads of head_dim: i's own block kernel
// where it has one (AVX2, AVX-512: head_dim a multiple of 16), else the scalar reference.
isa attention_isa(isa i, int64_t head_dim);

// Runs one block on attention_isa(i, a.head_dim) for a cache of type t (F32 or F16).
void attend_block(ggml_type t, isa i, const attention_block_args & a);

// e^x within a few ulp (relative error < 4e-7), for x in [-87, 88] (clamped there), with no
// call or branch: the activations' exponential.
float exp_approx(float x);

// g[j] = silu(g[j]) * u[j] = g[j] / (1 + exp_approx(-g[j])) * u[j] for n values: SwiGLU. Every
// ISA runs the reference's float operations in its order, so all give the same bits.
void swiglu(float * g, const float * u, int64_t n, isa i);

// gpt-oss's clamped SwiGLU: g = min(g, limit), u = clamp(u, -limit, limit),
// g[i] = g * sigmoid(alpha * g) * (u + 1), for n values (the compiler's vectors, any ISA).
void swiglu_clamped(float * g, const float * u, int64_t n, float alpha, float limit);

// y[j] = x[j] rounded to F16 (to nearest even) for n values, as f32_to_f16 rounds (util/half.h):
// the KV cache's stores. AVX2 and AVX-512 convert with F16C.
void to_f16(const float * x, uint16_t * y, int64_t n, isa i);

// One matrix x vector product of a batch run by matmul_runner::matvec_many.
struct matvec_job {
    const weight_matrix * w;
    const float *         x;  // w->cols floats
    float *               y;  // w->rows floats
};

// One matrix x matrix product of a batch run by matmul_runner::matmul_many:
// Y[t][r] = W[r,:] . X[t][:] for n_tokens rows of X (w->cols floats each) and of Y (w->rows).
// With `rows`, token t is row rows[t] of x instead (the routed experts' tokens, picked out of
// the block's input): jobs that pick from the same x share its quantized rows, so each row is
// quantized once however many experts chose it.
struct matmul_job {
    const weight_matrix * w;
    const float *         x;
    int64_t               n_tokens;
    float *               y;
    const int64_t *       rows = nullptr;  // n_tokens row indices into x, or nullptr: rows 0..n_tokens
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
        int64_t              source;  // with rows: its input's entry in sources_, else -1
        uint64_t             act_offset;
        uint64_t             act_row;
        int64_t              row_tile;
        int64_t              n_rtiles;
        int64_t              first_task;
    };

    thread_pool &        pool_;
    isa                  isa_;
    std::vector<uint8_t> act_;
    // An input that jobs pick rows of (matmul_job::rows): its rows 0..n_rows quantized once at
    // act_offset, then each job's rows copied to its own place.
    struct picked_input {
        const float *        x;
        const type_kernels * k;
        int64_t              cols;
        int64_t              n_rows;
        uint64_t             act_offset;
    };
    // One row to quantize: x's row, written to act_ at act_offset.
    struct quant_row {
        const type_kernels * k;
        const float *        x;
        int64_t              cols;
        uint64_t             act_offset;
    };
    void quantize_rows();

    std::vector<job_plan>       plans_;  // reused: a decode step calls matmul_many ~100 times
    std::vector<picked_input>   sources_;
    std::vector<quant_row>      quant_;
    std::vector<matmul_job>     many_;        // matvec_many's jobs as matmul_jobs
    std::vector<thread_scratch> scratch_;     // one per pool thread: dot_tile's scratch and output tiles
    std::vector<uint8_t *>      scratch_at_;  // matmul_many's: each thread's block this call
};

}  // namespace sluice
