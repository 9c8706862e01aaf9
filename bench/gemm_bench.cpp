// Kernel lab for the multi-token (prefill / batched decode) kernels: at expert shapes
// (d 2048, ff 768) and 4..64 tokens, per weight type, on one thread:
//   ref    the scalar dot_rows, token by token (the oracle; agreement is reported against it),
//   old    the ISA's dot_rows once per token over matmul's L2-sized row tiles (the path before
//          dot_tile existed, and still the fallback for types without one),
//   table  the dot_tile the kernel table hands out (what matmul_runner runs on a plain matrix),
//   packed the table's kernel on the matrix packed at load (kernels.h), where the type has one,
//   vN RxT the register-tile shapes of the lab (bench/gemm_lab_avx512.cpp).
// Every candidate must equal `old` bit for bit (the kernels' contract); each is timed in rounds
// interleaved with the others, best round kept. GFLOP/s = 2 * rows * cols * tokens / s.
//
//   ./build/bench/sluice_bench_gemm [--rounds 7] [--types q4_K,q8_0] [--tokens 4,16,64] [--copies 64]
//                             [--isa avx2]
// --copies N runs each candidate on N identical copies of the matrix in turn, so that the
// weights come from memory (as an expert's do in a forward pass) rather than from the caches.

#include "gemm_lab.h"
#include "kernels/kernels_impl.h"
#include "tensor/quantize.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace sluice;

struct candidate {
    std::string                               name;
    std::function<void(std::vector<float> &)> run;
    double                                    best = 1e30;
};

std::vector<std::string> split(const std::string & s) {
    std::vector<std::string> out;
    size_t                   a = 0;
    while (a <= s.size()) {
        const size_t b = std::min(s.find(',', a), s.size());
        if (b > a) out.push_back(s.substr(a, b - a));
        a = b + 1;
    }
    return out;
}

double seconds(const std::function<void()> & f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_lab(ggml_type t, int64_t rows, int64_t cols, int64_t n_tok, int rounds, int copies, isa top) {
    const type_kernels *            k   = find_kernels(t, top);
    const type_kernels *            ref = find_kernels(t, isa::SCALAR);
    std::mt19937                    rng(7);
    std::normal_distribution<float> normal(0.0f, 0.02f), xs(0.0f, 1.0f);
    const uint64_t                  stride = row_bytes(t, cols);
    // `copies` identical copies of the matrix, used in turn: with enough of them the weights
    // come from memory, as an expert's do in a forward pass, instead of from the caches.
    const uint64_t       mat = stride * static_cast<uint64_t>(rows);
    std::vector<uint8_t> w(mat * static_cast<uint64_t>(copies));
    std::vector<float>   row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        for (float & v : row) v = normal(rng);
        quantize_row(t, row.data(), w.data() + static_cast<uint64_t>(r) * stride, cols);
    }
    for (int c = 1; c < copies; ++c) std::memcpy(w.data() + mat * static_cast<uint64_t>(c), w.data(), mat);
    uint64_t             next_copy = 0;
    auto                 weights   = [&] { return w.data() + mat * (next_copy++ % static_cast<uint64_t>(copies)); };
    const uint64_t       act_row   = act_bytes(k->act, cols);
    std::vector<uint8_t> act(act_row * static_cast<uint64_t>(n_tok));
    std::vector<float>   x(static_cast<size_t>(cols));
    for (int64_t tk = 0; tk < n_tok; ++tk) {
        for (float & v : x) v = xs(rng);
        k->quantize_act(x.data(), act.data() + static_cast<uint64_t>(tk) * act_row, cols);
    }
    // matmul_runner's row tiles: <= 128 KiB of weights, 16..64 rows.
    const int64_t row_tile = std::clamp<int64_t>(static_cast<int64_t>((128 * 1024) / stride), 16, 64) / 16 * 16;
    auto          tiled    = [&](const std::function<void(int64_t, int64_t)> & tile) {
        for (int64_t r0 = 0; r0 < rows; r0 += row_tile) tile(r0, std::min(row_tile, rows - r0));
    };
    const size_t       n_out = static_cast<size_t>(rows * n_tok);
    std::vector<float> want(n_out), old(n_out);
    for (int64_t tk = 0; tk < n_tok; ++tk) {
        ref->dot_rows(cols, w.data(), stride, rows, act.data() + tk * act_row, want.data() + tk * rows);
    }

    std::vector<candidate> cands;
    cands.push_back({"old", [&](std::vector<float> & y) {
                         const uint8_t * wm = weights();
                         tiled([&](int64_t r0, int64_t nr) {
                             for (int64_t tk = 0; tk < n_tok; ++tk) {
                                 k->dot_rows(cols, wm + r0 * stride, stride, nr, act.data() + tk * act_row,
                                             y.data() + tk * rows + r0);
                             }
                         });
                     }});
    // The table's scratch (rows repacked once per call); the lab's variants of the same kernels
    // (other token counts and groups per tile) need the same.
    thread_scratch scratch, packed_scratch;  // 64-byte aligned, as matmul_runner gives them
    void * const   scratch64 = scratch.get(k->tile_scratch != nullptr ? k->tile_scratch(cols, n_tok) : 0);
    auto           tile_cand = [&](std::string name, kern::dot_tile_fn fn) {
        cands.push_back({std::move(name), [&, fn](std::vector<float> & y) {
                             const uint8_t * wm = weights();
                             tiled([&](int64_t r0, int64_t nr) {
                                 fn(cols, wm + r0 * stride, stride, nr, act.data(), act_row, n_tok, y.data() + r0,
                                              static_cast<uint64_t>(rows), scratch64);
                             });
                         }});
    };
    if (k->dot_tile != nullptr) tile_cand("table", k->dot_tile);
    // The same copies packed at load (kernels.h): no repack per call.
    std::vector<uint8_t> packed;
    if (k->packed != nullptr) {
        const weight_matrix plain{t, rows, cols, stride, w.data()};
        const uint64_t      pb = packed_bytes(plain);
        packed.resize(pb * static_cast<uint64_t>(copies));
        for (int c = 0; c < copies; ++c) {
            const weight_matrix copy{t, rows, cols, stride, w.data() + mat * static_cast<uint64_t>(c)};
            pack_matrix_rows(copy, top, 0, rows, packed.data() + pb * static_cast<uint64_t>(c));
        }
        // Enough for the variants' tiles too: the table's scratch for many tokens holds the
        // unpacked groups whatever T is, and every token's constants.
        void * const ps64 = packed_scratch.get(k->packed->scratch(cols, std::max<int64_t>(n_tok, 64)));
        cands.push_back({"packed", [&, pb, ps64](std::vector<float> & y) {
                             const uint8_t * wm = packed.data() + pb * (next_copy++ % static_cast<uint64_t>(copies));
                             tiled([&](int64_t r0, int64_t nr) {
                                 k->packed->dot(cols, wm + r0 * stride, stride, nr, act.data(), act_row, n_tok,
                                                y.data() + r0, static_cast<uint64_t>(rows), ps64);
                             });
                         }});
        if (top == isa::AVX512) {
            for (const lab::tile_variant & v : lab::avx512_packed_variants(t)) {
                cands.push_back({v.name, [&, pb, ps64, fn = v.fn](std::vector<float> & y) {
                                     const uint8_t * wm =
                                         packed.data() + pb * (next_copy++ % static_cast<uint64_t>(copies));
                                     tiled([&](int64_t r0, int64_t nr) {
                                         fn(cols, wm + r0 * stride, stride, nr, act.data(), act_row, n_tok,
                                            y.data() + r0, static_cast<uint64_t>(rows), ps64);
                                     });
                                 }});
            }
        }
    }
    if (top == isa::AVX512) {
        for (const lab::tile_variant & v : lab::avx512_tile_variants(t)) tile_cand(v.name, v.fn);
    }

    cands[0].run(old);
    double max_err = 0, scale = 0;
    for (size_t i = 0; i < n_out; ++i) {
        max_err = std::max(max_err, std::fabs(static_cast<double>(old[i]) - want[i]));
        scale   = std::max(scale, std::fabs(static_cast<double>(want[i])));
    }
    std::vector<float> y(n_out);
    for (candidate & c : cands) {
        std::fill(y.begin(), y.end(), -1.0f);
        c.run(y);
        if (std::memcmp(y.data(), old.data(), n_out * sizeof(float)) != 0) {
            fmt::print("  {} {}x{} x{}: {} DIFFERS from old (bits)\n", type_name(t), rows, cols, n_tok, c.name);
        }
    }
    // Enough repetitions for ~20 ms per round at 50 GFLOP/s.
    const double flop = 2.0 * static_cast<double>(rows * cols * n_tok);
    const int    reps = std::max(1, static_cast<int>(1e9 / flop));
    for (int round = 0; round < rounds; ++round) {
        for (candidate & c : cands) {
            const double s = seconds([&] {
                for (int i = 0; i < reps; ++i) c.run(y);
            });
            c.best         = std::min(c.best, s / reps);
        }
    }
    std::string line = fmt::format("{:5} {:4}x{:<4} {:3} tok  max|old-ref| {:.1e} of {:.1e} |", type_name(t), rows,
                                   cols, n_tok, max_err, scale);
    for (const candidate & c : cands) {
        line += fmt::format("  {} {:.1f}", c.name, flop / c.best / 1e9);
        if (&c != &cands[0]) line += fmt::format(" ({:.2f}x)", cands[0].best / c.best);
    }
    fmt::print("{}\n", line);
}

}  // namespace

int main(int argc, char ** argv) {
    int                      rounds = 5, copies = 1;
    isa                      target = detect_isa();
    std::vector<std::string> types  = {"q8_0", "q4_K", "q6_K", "q5_K"};
    std::vector<int64_t>     tokens = {4, 8, 16, 64};
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--rounds") {
            rounds = std::stoi(v);
        } else if (a == "--isa") {
            const std::optional<isa> i = parse_isa_name(v);
            if (!i || !isa_supported(*i)) {
                fmt::print(stderr, "--isa {}: not an ISA this CPU runs\n", v);
                return 1;
            }
            target = *i;
        } else if (a == "--copies") {
            copies = std::max(1, std::stoi(v));
        } else if (a == "--types") {
            types = split(v);
        } else if (a == "--tokens") {
            tokens.clear();
            for (const std::string & s : split(v)) tokens.push_back(std::stoll(s));
        } else {
            fmt::print(stderr, "unknown option {}\n", a);
            return 1;
        }
    }
    fmt::print("isa {}, one thread, GFLOP/s (2 * rows * cols * tokens / s), best of {} interleaved rounds\n",
               isa_name(target), rounds);
    for (const std::string & name : types) {
        const std::optional<ggml_type> t = parse_type_name(name);
        if (!t) {
            fmt::print(stderr, "unknown type {}\n", name);
            return 1;
        }
        if (!can_quantize(*t)) {
            fmt::print("{}: skipped (sluice has no quantizer to make its weights)\n", name);
            continue;
        }
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{768, 2048}, {2048, 768}}) {
            for (int64_t nt : tokens) run_lab(*t, rows, cols, nt, rounds, copies, target);
        }
    }
    return 0;
}
