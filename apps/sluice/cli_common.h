// Flags and helpers shared by the subcommands that run a model.
#pragma once

#include "engine/engine.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::cli {

struct model_flags {
    std::string model;
    int         threads = 0;
    std::string isa;  // empty: the best the CPU runs
    bool        no_repack = false;
    std::string packed_experts;
    int64_t     ctx     = 0;
    std::string kv_type = "f16";
    int64_t     batch   = 256;
    // Expert streaming (--expert-budget and what tunes it).
    std::string expert_budget;
    std::string predictor     = "cross-layer";
    std::string cache_policy  = "predictive";
    std::string cache_quota   = "shallow";
    int         predict_extra = 2;
    int         predict_depth = 1;
    int         pin_hot       = 0;
    std::string reader        = "auto";
    bool        no_direct     = false;
    std::string calibration;
    std::string oracle_trace;
    std::string cache_type;
    std::string shadow;
    std::string shadow_policy;
    bool        stats = false;
    std::string stats_json;
    // The command these flags were added to, so make_engine_options can tell which flags
    // were given (the streaming ones need --expert-budget).
    const CLI::App * cmd = nullptr;
};

// -m/--model, -t/--threads, -c/--ctx-size, --kv-type, -b/--batch-size, and the expert
// streaming flags (--expert-budget, --predictor, ..., --stats, --stats-json). A streaming flag
// given without --expert-budget is an error in make_engine_options (it would do nothing).
void add_model_flags(CLI::App * cmd, model_flags & f);

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, -s/--seed: the
// sampling flags of every generating subcommand (run, serve). Returns the --seed option, so a
// caller can tell whether it was given.
CLI::Option * add_sampling_flags(CLI::App * cmd, sampler_params & p);

// Whether this process prints reports: rank 0 under --expert-parallel (the others' standard
// output is dropped; their standard error keeps errors only), else always.
inline bool reporting_rank(const engine & e) {
    return e.parallel() == nullptr || e.parallel()->rank() == 0;
}

// After a command ran: the streaming counters as a table on stderr (--stats) and as JSON
// (--stats-json FILE). Nothing when experts were not streamed.
void report_streaming(const engine & e, const model_flags & f);

engine_options make_engine_options(const model_flags & f);
// --isa's value: nullopt when empty (the best the CPU runs); an unknown name is an error.
std::optional<isa> parse_isa_flag(const std::string & name);
session_options    make_session_options(const model_flags & f);

// "1,2,3" or "1 2 3" -> ids; throws naming the bad item.
std::vector<int32_t> parse_ids(const std::string & text);

std::string human_bytes(uint64_t b);

// --split-max-size N on a command that writes a model (quantize, prune): its text goes to
// `size`; split_max_bytes() reads it (0 when not given: one file).
void     add_split_flag(CLI::App * cmd, std::string & size);
uint64_t split_max_bytes(const std::string & size);
// The files a command wrote, for its summary: "OUT" or "OUT-00001-of-00003.gguf ..
// OUT-00003-of-00003.gguf (3 parts)"; and their bytes together.
std::string written_files(const std::vector<std::string> & files);
uint64_t    written_bytes(const std::vector<std::string> & files);

// The whole file as bytes; throws naming the file, also when it holds more than max_bytes
// (checked before anything is read).
std::string read_text_file(const std::string & path, uint64_t max_bytes = UINT64_MAX);

// The prompt from --ids, or else -p / -f text through the model's tokenizer (BOS as the
// model asks; control-token text parsed when `special`).
std::vector<int32_t> prompt_tokens(const engine & e, const std::string & ids, const std::string & text,
                                   const std::string & file, bool special);

}  // namespace sluice::cli
