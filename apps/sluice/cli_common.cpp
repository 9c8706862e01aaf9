#include "cli_common.h"

#include "util/error.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace sluice::cli {

void add_model_flags(CLI::App * cmd, model_flags & f) {
    cmd->add_option("-m,--model", f.model, "GGUF model file")->required();
    cmd->add_option("-t,--threads", f.threads, "threads (default: all hardware threads)");
    cmd->add_option("-c,--ctx-size", f.ctx, "context size in tokens (default: the model's training context)");
    cmd->add_option("--kv-type", f.kv_type, "KV cache element type: f16 or f32")->default_val("f16");
    cmd->add_option("-b,--batch-size", f.batch, "prompt tokens per forward pass")->default_val(256);
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

engine_options make_engine_options(const model_flags & f) {
    engine_options o;
    o.model_path = f.model;
    o.n_threads  = f.threads;
    return o;
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

}  // namespace sluice::cli

namespace sluice::cli {

std::string read_text_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail("{}: cannot open the text file", path);
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
