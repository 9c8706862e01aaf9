// Tokenizer throughput on real text: the five corpus samples (C headers, Python, Debian
// changelogs, licences, man pages; ~100 KB, tests/data/corpus) joined, encoded without BOS.
// Reports MB/s of input text. The baseline row is a UTF-8 validation pass over the same bytes:
// the cheapest thing any tokenizer must do, so encode/baseline shows the cost of the algorithm.
//
//   ./build/bench/sluice_bench_tokenizer [--benchmark_filter=bpe]

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace {

using namespace sluice;

const std::string & corpus() {
    static const std::string text = [] {
        std::string all;
        for (const char * name : {"c_headers", "python", "debian_changelog", "legal", "man"}) {
            std::ifstream      in(std::string(SLUICE_TEST_DATA) + "/corpus/" + name + ".txt", std::ios::binary);
            std::ostringstream ss;
            ss << in.rdbuf();
            all += ss.str();
        }
        return all;
    }();
    return text;
}

std::unique_ptr<tokenizer> load(const std::string & name) {
    const gguf_file f = gguf_file::open(std::string(SLUICE_TEST_DATA) + "/" + name);
    return tokenizer::from_gguf(f);
}

void encode(benchmark::State & state, const std::string & vocab) {
    const auto          tok  = load(vocab);
    const std::string & text = corpus();
    size_t              n    = 0;
    for (auto _ : state) {
        const auto ids = tok->encode(text, false, false);
        n              = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
    state.counters["tokens"]          = double(n);
    state.counters["bytes_per_token"] = double(text.size()) / double(n ? n : 1);
}

void decode_stream(benchmark::State & state, const std::string & vocab) {
    const auto          tok  = load(vocab);
    const std::string & text = corpus();
    const auto          ids  = tok->encode(text, false, false);
    for (auto _ : state) {
        detokenizer d(*tok);
        size_t      bytes = 0;
        for (int32_t id : ids) bytes += d.push(id).size();
        bytes += d.flush().size();
        benchmark::DoNotOptimize(bytes);
    }
    state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
}

void baseline_utf8(benchmark::State & state) {
    const std::string & text = corpus();
    for (auto _ : state) benchmark::DoNotOptimize(utf8::is_valid(text));
    state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
}

}  // namespace

BENCHMARK(baseline_utf8);
BENCHMARK_CAPTURE(encode, spm_sp4096, std::string("tiny-qwen3moe-f16.gguf"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, spm_llama, std::string("tokenizer/ggml-vocab-llama-spm.gguf"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_gpt2, std::string("tokenizer/ggml-vocab-gpt-2.gguf"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_deepseek_llm, std::string("tokenizer/ggml-vocab-deepseek-llm.gguf"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, bpe_starcoder, std::string("tokenizer/ggml-vocab-starcoder.gguf"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_stream, spm_llama, std::string("tokenizer/ggml-vocab-llama-spm.gguf"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_stream, bpe_gpt2, std::string("tokenizer/ggml-vocab-gpt-2.gguf"))
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
