#include "cli_common.h"

#include "gguf/split.h"
#include "util/error.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice::cli {

void add_model_flags(CLI::App * cmd, model_flags & f) {
    f.cmd = cmd;
    cmd->add_option("-m,--model", f.model,
                    "GGUF model file (of a split model: the first part, PREFIX-00001-of-0000N.gguf)")
        ->required();
    cmd->add_option("-t,--threads", f.threads, "threads (default: all hardware threads)");
    cmd->add_option("--isa", f.isa, "kernel path: scalar|avx2|avx512 (default: the best this CPU runs)");
    cmd->add_flag("--no-repack", f.no_repack,
                  "keep routed experts as the file lays them out (default: in memory, they are packed at load into "
                  "the kernels' 16-row form where the ISA has one: the same results, faster prefill; with "
                  "--expert-budget, the cache packs the experts it reads in their slots once it uses them 3+ times "
                  "per read, and while it waits for reads)");
    cmd->add_option("--packed-experts", f.packed_experts,
                    "the routed experts packed ahead of time for this CPU (`sluice pack-experts`): in RAM, no "
                    "packing at load; with --expert-budget, read straight into the packed form, so streamed "
                    "experts compute as fast as packed ones (the same results)");
    cmd->add_option("-c,--ctx-size", f.ctx,
                    "context size in tokens (default: 4096, or the model's training context if smaller)");
    cmd->add_option("--kv-type", f.kv_type, "KV cache element type: f16 or f32")->default_val("f16");
    cmd->add_option("-b,--batch-size", f.batch, "prompt tokens per forward pass")->default_val(256);

    const char * g = "Expert streaming";
    cmd->add_option("--expert-budget", f.expert_budget,
                    "stream routed experts from disk into a RAM cache of at most SIZE (512M, 2G) or PERCENT of "
                    "the expert bytes (25%); default: keep the whole file mapped")
        ->group(g);
    cmd->add_option("--predictor", f.predictor,
                    "what reads experts ahead: none (load on demand), cross-layer, history, frequency, pregate, oracle")
        ->default_val("none")
        ->group(g);
    cmd->add_option("--cache-policy", f.cache_policy,
                    "eviction: lru, lfu, predictive (spares predicted experts), decay (uses weighted by recency, "
                    "half-life 32 tokens), markov (decay plus the chance that the next token uses the expert, "
                    "learned from the routing so far)")
        ->default_val("markov")
        ->group(g);
    cmd->add_option("--cache-quota", f.cache_quota,
                    "budget per layer: uniform, shallow (early layers get more), popularity (needs --calibration)")
        ->default_val("shallow")
        ->group(g);
    cmd->add_option("--predict-extra", f.predict_extra, "predict k + N experts per layer")->default_val(2)->group(g);
    cmd->add_option("--predict-depth", f.predict_depth, "predict this many MoE layers ahead (1 to 4)")
        ->default_val(1)
        ->check(CLI::Range(1, 4))
        ->group(g);
    cmd->add_option("--pin-hot", f.pin_hot, "keep the N most popular experts of each layer (needs --calibration)")
        ->default_val(0)
        ->group(g);
    cmd->add_option("--reader", f.reader, "disk reads: auto, io_uring, pread")->default_val("auto")->group(g);
    cmd->add_flag("--no-direct", f.no_direct, "read through the page cache (dropping pages after) instead of O_DIRECT")
        ->group(g);
    cmd->add_option("--calibration", f.calibration, "calibration file from `sluice calibrate` (frequency, pregate)")
        ->group(g);
    cmd->add_option("--oracle-trace", f.oracle_trace, "routing trace of the same text from `sluice trace` (oracle)")
        ->group(g);
    cmd->add_option("--cache-type", f.cache_type,
                    "keep cached experts re-quantized to this type (q2_K..q6_K, q4_0, q8_0, iq4_nl, iq4_xs, tq1_0, "
                    "tq2_0) so more fit; "
                    "results then differ from the file's by that rounding")
        ->group(g);
    cmd->add_option("--shadow", f.shadow,
                    "the routed experts again in a smaller type (`sluice quantize --expert-shadow TYPE`), read where "
                    "--shadow-policy says: fewer bytes per token, lossy (measure with perplexity --kl-base)")
        ->group(g);
    cmd->add_option("--shadow-policy", f.shadow_policy,
                    "which reads go to --shadow: all (every read; slots sized for the shadow, so more fit: the one "
                    "that pays on a disk-bound machine, docs/streaming.md), cold (misses; an expert asked for again "
                    "while cached is read exact), speculative (the predictor's guesses; the same)")
        ->default_val("all")
        ->group(g);
    cmd->add_flag("--stats", f.stats, "print the expert-cache counters per layer at the end")->group(g);
    cmd->add_option("--stats-json", f.stats_json, "write the expert-cache counters as JSON to FILE")->group(g);
}

CLI::Option * add_sampling_flags(CLI::App * cmd, sampler_params & p) {
    cmd->add_option("--temp", p.temperature, "temperature (0: greedy)")->default_val(0.8f);
    cmd->add_option("--top-k", p.top_k, "keep the k most likely tokens (0: all)")->default_val(40);
    cmd->add_option("--top-p", p.top_p, "nucleus sampling mass (1: off)")->default_val(0.95f);
    cmd->add_option("--min-p", p.min_p, "drop tokens below min-p x the top probability (0: off)")->default_val(0.05f);
    cmd->add_option("--repeat-penalty", p.repeat_penalty, "penalty for recent tokens (1: off)")->default_val(1.0f);
    cmd->add_option("--repeat-last-n", p.repeat_last_n, "how many recent tokens are penalised")->default_val(64);
    return cmd->add_option("-s,--seed", p.seed, "random seed (same seed, same text)")->default_val(0);
}

std::optional<isa> parse_isa_flag(const std::string & name) {
    if (name.empty()) {
        return std::nullopt;
    }
    const std::optional<isa> i = parse_isa_name(name);
    if (!i) {
        fail("--isa: unknown ISA '{}' (expected scalar, avx2 or avx512)", name);
    }
    return i;
}

engine_options make_engine_options(const model_flags & f) {
    if (f.expert_budget.empty()) {
        // Without a budget the experts stay mapped: these flags would be silently ignored.
        if (f.stats || !f.stats_json.empty()) {
            fail("--stats and --stats-json report the expert cache; they need --expert-budget");
        }
        for (const char * flag :
             {"--predictor", "--cache-policy", "--cache-quota", "--predict-extra", "--predict-depth", "--pin-hot",
              "--reader", "--no-direct", "--oracle-trace", "--cache-type", "--shadow", "--shadow-policy"}) {
            if (f.cmd != nullptr && f.cmd->count(flag) > 0) {
                fail("{} tunes expert streaming; it needs --expert-budget", flag);
            }
        }
    }
    engine_options o;
    o.model_path          = f.model;
    o.n_threads           = f.threads;
    o.force_isa           = parse_isa_flag(f.isa);
    o.repack_experts      = !f.no_repack;
    o.packed_experts      = f.packed_experts;
    o.expert_budget       = f.expert_budget;
    streaming_options & s = o.streaming;
    s.predictor           = parse_predictor(f.predictor);
    s.eviction            = parse_eviction_policy(f.cache_policy);
    s.quota               = parse_quota_policy(f.cache_quota);
    if (f.predict_extra < 0) {
        fail("--predict-extra must be >= 0, not {}", f.predict_extra);
    }
    if (f.pin_hot < 0) {
        fail("--pin-hot must be >= 0, not {}", f.pin_hot);
    }
    s.predict_extra = f.predict_extra;
    s.predict_depth = f.predict_depth;
    s.pin_hot       = f.pin_hot;
    if (f.reader == "auto") {
        s.reader.kind = reader_kind::AUTOMATIC;
    } else if (f.reader == "io_uring") {
        s.reader.kind = reader_kind::IO_URING;
    } else if (f.reader == "pread") {
        s.reader.kind = reader_kind::PREAD;
    } else {
        fail("--reader must be auto, io_uring or pread, not '{}'", f.reader);
    }
    s.reader.direct    = !f.no_direct;
    s.calibration_path = f.calibration;
    s.trace_path       = f.oracle_trace;
    if (!f.cache_type.empty()) {
        s.cache_type = parse_type_name(f.cache_type);
        if (!s.cache_type) {
            fail("--cache-type: unknown type '{}'", f.cache_type);
        }
    }
    if (f.shadow.empty()) {
        if (f.cmd != nullptr && f.cmd->count("--shadow-policy") > 0) {
            fail("--shadow-policy chooses what is read from --shadow; it needs --shadow");
        }
    } else {
        s.shadow_path = f.shadow;
        s.shadow      = parse_shadow_policy(f.shadow_policy);
        if (s.shadow == shadow_policy::NONE) {
            fail("--shadow-policy none reads nothing from --shadow: leave --shadow out instead");
        }
    }
    return o;
}

void report_streaming(const engine & e, const model_flags & f) {
    const std::optional<stream_stats> s = e.streaming_stats();
    if (!s || !reporting_rank(e)) {
        return;
    }
    const stream_stats & st = *s;
    if (f.stats) {
        fmt::print(stderr, "{}", format_stream_stats(st));
    }
    if (!f.stats_json.empty()) {
        std::ofstream out(f.stats_json);
        if (!out) {
            fail("--stats-json: cannot write '{}'", f.stats_json);
        }
        out << stream_stats_json(st) << "\n";
    }
}

session_options make_session_options(const model_flags & f) {
    session_options o;
    o.n_ctx   = f.ctx;
    o.n_batch = f.batch;
    if (f.kv_type == "f16") {
        o.kv_type = ggml_type::F16;
    } else if (f.kv_type == "f32") {
        o.kv_type = ggml_type::F32;
    } else {
        fail("--kv-type must be f16 or f32, not '{}'", f.kv_type);
    }
    return o;
}

std::vector<int32_t> parse_ids(const std::string & text) {
    std::vector<int32_t> ids;
    size_t               i = 0;
    while (i < text.size()) {
        if (text[i] == ',' || text[i] == ' ' || text[i] == '[' || text[i] == ']') {
            ++i;
            continue;
        }
        int32_t v   = 0;
        auto [p, e] = std::from_chars(text.data() + i, text.data() + text.size(), v);
        if (e != std::errc() || (p != text.data() + text.size() && *p != ',' && *p != ' ' && *p != ']')) {
            fail("--ids: '{}' is not a list of token ids (problem at character {})", text, i + 1);
        }
        ids.push_back(v);
        i = static_cast<size_t>(p - text.data());
    }
    return ids;
}

std::string human_bytes(uint64_t b) {
    const char * units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double       v       = static_cast<double>(b);
    int          u       = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.2f} {}", v, units[u]);
}

void add_split_flag(CLI::App * cmd, std::string & size) {
    cmd->add_option("--split-max-size", size,
                    "write a split model as llama.cpp's gguf-split does: parts OUT-00001-of-0000N.gguf (OUT: the "
                    "output less .gguf) of at most N tensor bytes each (e.g. 500M, 2G; K/M/G are powers of 1000), a "
                    "tensor never cut; load it with -m on the first part");
}

uint64_t split_max_bytes(const std::string & size) {
    return size.empty() ? 0 : parse_split_size(size);
}

std::string written_files(const std::vector<std::string> & files) {
    if (files.size() == 1) {
        return files[0];
    }
    return fmt::format("{} .. {} ({} parts)", files.front(), files.back(), files.size());
}

uint64_t written_bytes(const std::vector<std::string> & files) {
    uint64_t total = 0;
    for (const std::string & f : files) {
        total += std::filesystem::file_size(f);
    }
    return total;
}

}  // namespace sluice::cli

namespace sluice::cli {

std::string read_text_file(const std::string & path, uint64_t max_bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail("{}: cannot open the text file", path);
    }
    if (max_bytes != UINT64_MAX) {
        std::error_code ec;
        const uintmax_t size = std::filesystem::file_size(path, ec);
        if (ec || size > max_bytes) {
            fail("{}: {}, more than the {} MiB allowed", path, ec ? "size unknown" : fmt::format("{} bytes", size),
                 max_bytes >> 20);
        }
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<int32_t> prompt_tokens(const engine & e, const std::string & ids, const std::string & text,
                                   const std::string & file, bool special) {
    if (!ids.empty()) {
        if (!text.empty() || !file.empty()) {
            fail("give the prompt once: --ids, -p or -f");
        }
        return parse_ids(ids);
    }
    if (!text.empty() && !file.empty()) {
        fail("give the prompt once: -p or -f");
    }
    const std::string prompt = file.empty() ? text : read_text_file(file);
    return e.require_tokenizer().encode(prompt, true, special);
}

}  // namespace sluice::cli
