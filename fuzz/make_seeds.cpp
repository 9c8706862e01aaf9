// Writes seed files for the model and tokenizer fuzzers (fuzz/run.sh calls it):
//   DIR/model/seed-<arch>.gguf   tiny F32 models (a few KB to tens of KB) of the attention +
//                                MoE architectures, from their tensor tables (sluice synth);
//   DIR/tokenizer/seed-<name>.gguf the tokenizer metadata of the given vocab files, alone.
// Usage: sluice_fuzz_seeds DIR VOCAB.gguf...
#include "gguf/gguf.h"
#include "tools/synth.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char ** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR VOCAB.gguf...\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        std::filesystem::create_directories(dir / "model");
        std::filesystem::create_directories(dir / "tokenizer");
        sluice::thread_pool   pool(1);
        sluice::synth_options opt;
        opt.type = sluice::ggml_type::F32;
        // name, arch, layers, d, heads, kv heads, head dim, experts, used, expert ff, vocab, ctx,
        // rope base [, shared expert ff, sliding window]
        const sluice::synth_geometry tiny[] = {
            {"q", "qwen3moe", 2, 16, 2, 1, 8, 4, 2, 8, 32, 64, 1e4},
            {"l", "llama", 2, 16, 2, 1, 8, 4, 2, 8, 32, 64, 1e4},
            {"o", "olmoe", 2, 16, 2, 2, 8, 4, 2, 8, 32, 64, 1e4},
            {"q2", "qwen2moe", 2, 16, 2, 2, 8, 4, 2, 8, 32, 64, 1e4, 8},
            {"g", "gpt-oss", 2, 32, 2, 1, 16, 4, 2, 32, 32, 64, 1e4, 0, 8},
        };
        for (const sluice::synth_geometry & g : tiny) {
            sluice::write_synthetic_model(g, opt, (dir / "model" / ("seed-" + g.arch + ".gguf")).string(), pool);
        }
        for (int i = 2; i < argc; ++i) {
            const sluice::gguf_file f = sluice::gguf_file::open(argv[i]);
            sluice::gguf_writer     w;
            for (const sluice::gguf_kv & kv : f.metadata()) {
                const std::string key(kv.key);
                if (key.starts_with("tokenizer.") || key == "general.architecture") {
                    w.set_value(key, kv.value);
                }
            }
            w.write((dir / "tokenizer" / ("seed-" + std::filesystem::path(argv[i]).filename().string())).string());
        }
    } catch (const sluice::error & e) {
        std::fprintf(stderr, "sluice_fuzz_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
