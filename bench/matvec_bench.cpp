// Decode-time matrix x vector at real expert shapes (Qwen3-30B-A3B: d = 2048, expert FFN 768),
// per weight type and thread count. The weights cycle through copies totalling far more than
// the L3 cache, as the experts of a real model do, so every byte comes from DRAM. Each row
// reports GB/s of weights read and the fraction of the read bandwidth measured in this run.
//
//   ./build/bench/sluice_bench_matvec [--isa=avx2] [--benchmark_filter=q4_K]
// (--isa forces a lower kernel path than the CPU's best, to compare them in one run)
//
// The gemm/ section runs the prefill product (64 tokens, matmul_runner::matmul) of the types
// with multi-token kernels and reports GFLOP/s (2 * rows * cols * tokens / s) and the
// fraction of the int8 multiply-add peak of the kernel's ISA, measured in this run on the
// same threads (peak_probe.h).

#include "kernels/kernels.h"
#include "peak_probe.h"
#include "tensor/blocks.h"
#include "tensor/quantize.h"
#include "util/bandwidth.h"
#include "util/half.h"
#include "util/thread_pool.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

namespace {

using namespace sluice;

constexpr size_t      k_working_set = size_t(256) << 20;  // 8x a 32 MiB L3
std::map<int, double> g_bandwidth;                        // threads -> GB/s, measured in main()
isa                   g_isa = isa::SCALAR;                // chosen in main()
std::map<int, double> g_peak_macs;  // threads -> int8 multiply-adds / s, all threads at once; absent: scalar

struct weight_set {
    std::vector<uint8_t>       bytes;
    std::vector<weight_matrix> copies;
};

// The i-quants and ternary types: random code bytes, then the F16 scale d set to a small
// normal value (random bytes could make it a NaN or a subnormal).
void random_iq_blocks(ggml_type type, uint8_t * dst, uint64_t bytes, std::mt19937 & rng) {
    for (uint64_t i = 0; i < bytes; ++i) dst[i] = static_cast<uint8_t>(rng());
    const uint64_t block = traits(type).type_size;
    const uint16_t d     = f32_to_f16(0.001f);
    for (uint8_t * b = dst; b < dst + bytes; b += block) {
        switch (type) {
            case ggml_type::IQ1_M:  // d's four nibbles sit in bits 12..15 of the four scale u16s
                for (int k = 0; k < 4; ++k) {
                    uint8_t * hi = b + offsetof(block_iq1_m, scales) + 2 * k + 1;
                    *hi          = static_cast<uint8_t>((*hi & 0x0f) | (((d >> (4 * k)) & 0xf) << 4));
                }
                break;
            case ggml_type::TQ1_0:
                std::memcpy(b + offsetof(block_tq1_0, d), &d, 2);
                break;
            case ggml_type::TQ2_0:
                std::memcpy(b + offsetof(block_tq2_0, d), &d, 2);
                break;
            default:  // d leads the other blocks
                std::memcpy(b, &d, 2);
                break;
        }
    }
}

// Random weights of the given type: quantized from Gaussian values where sluice has a
// quantizer, otherwise random blocks with sane scales (MXFP4: exponents near 2^-4; the
// i-quants and ternary types: random_iq_blocks).
weight_set make_weights(ggml_type type, int64_t rows, int64_t cols) {
    std::mt19937                    rng(42);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    const uint64_t                  row_size    = row_bytes(type, cols);
    const uint64_t                  matrix_size = row_size * static_cast<uint64_t>(rows);
    const size_t                    n_copies    = std::max<size_t>(2, k_working_set / matrix_size);
    weight_set                      w;
    w.bytes.resize(matrix_size * n_copies);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t * dst = w.bytes.data() + static_cast<uint64_t>(r) * row_size;
        if (can_quantize(type)) {
            for (float & x : row) x = normal(rng);
            quantize_row(type, row.data(), dst, cols);
        } else if (type == ggml_type::MXFP4) {
            for (uint64_t b = 0; b < row_size; b += 17) {
                dst[b] = static_cast<uint8_t>(118 + rng() % 8);
                for (int k = 1; k < 17; ++k) dst[b + k] = static_cast<uint8_t>(rng());
            }
        } else {
            random_iq_blocks(type, dst, row_size, rng);
        }
    }
    // Fill the other copies by repeating the first: same values, different addresses.
    for (size_t c = 1; c < n_copies; ++c) {
        std::copy_n(w.bytes.data(), matrix_size, w.bytes.data() + c * matrix_size);
    }
    for (size_t c = 0; c < n_copies; ++c) {
        w.copies.push_back({type, rows, cols, row_size, w.bytes.data() + c * matrix_size});
    }
    return w;
}

void bm_matvec(benchmark::State & state, ggml_type type, int64_t rows, int64_t cols) {
    const int          threads = static_cast<int>(state.range(0));
    thread_pool        pool(threads);
    matmul_runner      runner(pool, g_isa);
    weight_set         w = make_weights(type, rows, cols);
    std::vector<float> x(static_cast<size_t>(cols), 0.5f), y(static_cast<size_t>(rows));
    size_t             next  = 0;
    uint64_t           bytes = 0;
    const auto         t0    = std::chrono::steady_clock::now();
    for (auto _ : state) {
        runner.matvec(w.copies[next], x.data(), y.data());
        benchmark::DoNotOptimize(y.data());
        bytes += w.copies[next].row_stride * static_cast<uint64_t>(rows);
        next = (next + 1) % w.copies.size();
    }
    const double secs         = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gbs          = static_cast<double>(bytes) / secs / 1e9;
    state.counters["GB/s"]    = gbs;
    state.counters["of_bw"]   = gbs / g_bandwidth[threads];
    state.counters["bw_GB/s"] = g_bandwidth[threads];
    state.SetLabel(fmt::format("{} {}x{} isa={}", type_name(type), rows, cols, isa_name(runner.target())));
}

void bm_gemm(benchmark::State & state, ggml_type type, int64_t rows, int64_t cols) {
    constexpr int64_t               n_tok   = 64;
    const int                       threads = static_cast<int>(state.range(0));
    thread_pool                     pool(threads);
    matmul_runner                   runner(pool, g_isa);
    weight_set                      w = make_weights(type, rows, cols);
    std::mt19937                    rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float>              x(static_cast<size_t>(cols * n_tok)), y(static_cast<size_t>(rows * n_tok));
    for (float & v : x) v = normal(rng);
    size_t     next = 0;
    double     macs = 0;
    const auto t0   = std::chrono::steady_clock::now();
    for (auto _ : state) {
        runner.matmul(w.copies[next], x.data(), n_tok, y.data());
        benchmark::DoNotOptimize(y.data());
        macs += static_cast<double>(rows * cols * n_tok);
        next = (next + 1) % w.copies.size();
    }
    const double secs         = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["GFLOP/s"] = 2.0 * macs / secs / 1e9;
    if (g_peak_macs.contains(threads)) {
        state.counters["of_peak"] = macs / secs / g_peak_macs[threads];
    }
    state.SetLabel(
        fmt::format("{} {}x{} x{} tokens isa={}", type_name(type), rows, cols, n_tok, isa_name(runner.target())));
}

void register_all() {
    const ggml_type types[] = {ggml_type::Q4_K,    ggml_type::Q6_K,   ggml_type::Q8_0,    ggml_type::F16,
                               ggml_type::MXFP4,   ggml_type::Q4_0,   ggml_type::Q2_K,    ggml_type::Q3_K,
                               ggml_type::IQ4_NL,  ggml_type::IQ4_XS, ggml_type::IQ3_XXS, ggml_type::IQ3_S,
                               ggml_type::IQ2_XXS, ggml_type::IQ2_XS, ggml_type::IQ2_S,   ggml_type::IQ1_S,
                               ggml_type::IQ1_M,   ggml_type::TQ1_0,  ggml_type::TQ2_0};
    const std::pair<int64_t, int64_t> shapes[] = {{768, 2048}, {2048, 768}};  // rows x cols
    const auto                        add      = [&](const char * section, auto fn, ggml_type t) {
        for (auto [rows, cols] : shapes) {
            const std::string name = fmt::format("{}/{}/{}x{}", section, type_name(t), rows, cols);
            benchmark::RegisterBenchmark(name.c_str(), fn, t, rows, cols)
                ->ArgName("threads")
                ->Arg(1)
                ->Arg(2)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
    };
    for (ggml_type t : types) add("matvec", bm_matvec, t);
    for (ggml_type t : {ggml_type::Q4_K, ggml_type::Q5_K, ggml_type::Q6_K, ggml_type::Q8_0, ggml_type::Q4_0,
                        ggml_type::MXFP4, ggml_type::IQ4_NL}) {
        add("gemm", bm_gemm, t);
    }
}

}  // namespace

int main(int argc, char ** argv) {
    std::optional<isa> requested;
    int                kept = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg.starts_with("--isa=")) {
            requested = parse_isa_name(arg.substr(6));
            if (!requested) {
                fmt::print(stderr, "unknown ISA in {}\n", arg);
                return 1;
            }
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    try {
        g_isa = choose_isa(requested);
    } catch (const std::exception & e) {
        fmt::print(stderr, "{}\n", e.what());
        return 1;
    }
    for (int threads : {1, 2}) {
        thread_pool pool(threads);
        g_bandwidth[threads] = measure_read_bandwidth(pool, size_t(512) << 20);
        fmt::print("memory read bandwidth, {} thread{}: {:.1f} GB/s\n", threads, threads > 1 ? "s" : "",
                   g_bandwidth[threads]);
    }
    // The peak with every thread running the probe at once: threads that share a core (SMT
    // siblings, as a VM's vCPUs may be) share its arithmetic too.
    for (int threads : {1, 2}) {
        double (*probe)() = g_isa == isa::AVX512 ? bench::int8_peak_avx512
                            : g_isa == isa::AVX2 ? bench::int8_peak_avx2
                                                 : nullptr;
        if (probe == nullptr) break;
        thread_pool         pool(threads);
        std::vector<double> rate(static_cast<size_t>(threads));
        pool.parallel_for(threads, [&](int64_t, int th) { rate[static_cast<size_t>(th)] = probe(); });
        for (double r : rate) g_peak_macs[threads] += r;
        fmt::print("int8 multiply-add peak, {}, {} thread{} at once (measured): {:.0f} G/s = {:.0f} GFLOP/s\n",
                   isa_name(g_isa), threads, threads > 1 ? "s" : "", g_peak_macs[threads] / 1e9,
                   2 * g_peak_macs[threads] / 1e9);
    }
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
