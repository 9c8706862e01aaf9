// `sluice info -m FILE [--json] [--tensors] [--metadata] [--check]`: what a GGUF file holds.

#include "cli_common.h"
#include "commands.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "gguf/summary.h"
#include "model/registry.h"
#include "model/tensor_table.h"
#include "tensor/scan.h"
#include "util/error.h"
#include "util/progress.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

namespace sluice::cli {
namespace {

struct info_options {
    std::string model;
    bool        json     = false;
    bool        tensors  = false;
    bool        metadata = false;
    bool        check    = false;
};

std::string human_count(uint64_t n) {
    if (n >= 1000000000ull) return fmt::format("{:.2f} B", n / 1e9);
    if (n >= 1000000ull) return fmt::format("{:.2f} M", n / 1e6);
    if (n >= 1000ull) return fmt::format("{:.1f} K", n / 1e3);
    return fmt::format("{}", n);
}

std::string dims_text(const gguf_tensor & t) {
    std::string s = "[";
    for (int d = 0; d < t.n_dims; ++d) {
        s += fmt::format("{}{}", d ? ", " : "", t.ne[d]);
    }
    return s + "]";
}

// Reads every computable tensor's values and fails on the first NaN or Inf, with a progress
// bar on a terminal (this touches every byte of the file, so it takes disk-speed time).
void check_tensor_values(const gguf_file & file) {
    uint64_t total = 0;
    for (const gguf_tensor & t : file.tensors()) total += t.nbytes;
    progress_bar bar("checking", total);
    uint64_t     done = 0;
    for (const gguf_tensor & t : file.tensors()) {
        if (traits(t.type).computable) {
            const int64_t bad = find_non_finite(t.type, t.data, t.n_elements());
            if (bad >= 0) {
                fail("{}: tensor '{}' ({}): element {} is not finite (tensor data at byte offset {})", file.path_of(t),
                     t.name, type_name(t.type), bad, file.file_offset(t));
            }
        }
        done += t.nbytes;
        bar.update(done);
    }
}

// What `run` checks before it runs: the engine as run builds it (hyper-parameters, every
// tensor of the architecture's table with its shape and a computable type, the experts,
// the tokenizer and its agreement with the embedding table), without running it. A file
// of an architecture sluice does not run is checked as GGUF only; the pass line says so.
struct check_result {
    bool        model_checked = false;
    std::string line;
};

check_result check_as_model(const gguf_file & file) {
    const std::string_view              arch  = file.architecture();
    const std::vector<std::string_view> known = supported_architectures();
    if (std::find(known.begin(), known.end(), arch) == known.end()) {
        return {false,
                fmt::format("check passed: {}: well-formed GGUF, {} tensors, no NaN/Inf; not checked as a "
                            "model ({}: not an architecture sluice runs)",
                            file.path(), file.tensors().size(),
                            arch.empty() ? std::string("no general.architecture") : "'" + terminal_text(arch) + "'")};
    }
    engine_options o;
    o.model_path = file.path();
    o.n_threads  = 1;
    const engine e(o);
    return {true, fmt::format("check passed: {}: well-formed GGUF, {} tensors, no NaN/Inf; the {} model loads as "
                              "`run` loads it ({} layers, {} experts, {} used; tokenizer: {})",
                              file.path(), file.tensors().size(), arch, e.hparams().n_layer, e.hparams().n_expert,
                              e.hparams().n_expert_used, e.tok() != nullptr ? "yes" : "none")};
}

nlohmann::json to_json(const gguf_file & file, const gguf_summary & s, const info_options & opt) {
    nlohmann::json j;
    j["path"]         = s.path;
    j["file_size"]    = s.file_size;
    j["version"]      = s.version;
    j["alignment"]    = s.alignment;
    j["architecture"] = s.architecture;
    j["name"]         = s.name;
    j["n_tensors"]    = s.n_tensors;
    j["n_metadata"]   = s.n_metadata;
    j["parts"]        = nlohmann::json::array();
    for (const gguf_part_summary & p : s.parts) {
        j["parts"].push_back({{"path", p.path}, {"file_size", p.file_size}, {"n_tensors", p.n_tensors}});
    }
    j["n_params"]       = s.n_params;
    j["context_length"] = s.context_length;
    nlohmann::json hp   = nlohmann::json::object();
    for (const auto & [k, v] : s.hparams) hp[k] = v;
    j["hparams"]      = hp;
    j["tokenizer"]    = {{"model", s.tokenizer_model},
                         {"pre", s.tokenizer_pre},
                         {"vocab_size", s.vocab_size},
                         {"chat_template", s.has_chat_template}};
    nlohmann::json bt = nlohmann::json::object();
    for (const auto & [name, b] : s.by_type) bt[name] = {{"tensors", b.tensors}, {"bytes", b.bytes}};
    j["bytes_by_type"]       = bt;
    j["tensor_bytes"]        = s.tensor_bytes;
    j["routed_expert_bytes"] = s.routed_expert_bytes;
    j["resident_bytes"]      = s.tensor_bytes - s.routed_expert_bytes;
    if (opt.tensors) {
        nlohmann::json                                arr   = nlohmann::json::array();
        const std::vector<std::optional<tensor_role>> roles = tensor_roles(file);
        size_t                                        i     = 0;
        for (const gguf_tensor & t : file.tensors()) {
            arr.push_back({{"name", t.name},
                           {"type", type_name(t.type)},
                           {"dims", std::vector<int64_t>(t.ne, t.ne + t.n_dims)},
                           {"part", t.part + 1},
                           {"offset", file.file_offset(t)},
                           {"bytes", t.nbytes},
                           {"role", roles[i] ? nlohmann::json(name_of(*roles[i])) : nlohmann::json(nullptr)},
                           {"routed_expert", roles[i] == tensor_role::EXPERTS}});
            ++i;
        }
        j["tensors"] = arr;
    }
    if (opt.metadata) {
        nlohmann::json md = nlohmann::json::object();
        for (const gguf_kv & kv : file.metadata()) md[std::string(kv.key)] = render_value(kv.value);
        j["metadata"] = md;
    }
    return j;
}

void print_text(const gguf_file & file, const gguf_summary & s, const info_options & opt) {
    const uint64_t resident = s.tensor_bytes - s.routed_expert_bytes;
    const auto     pct      = [&](uint64_t b) { return s.tensor_bytes ? 100.0 * b / s.tensor_bytes : 0.0; };
    const bool     split    = s.parts.size() > 1;
    fmt::print("file            {} ({}{}, GGUF v{}, alignment {})\n", s.path, human_bytes(s.file_size),
               split ? fmt::format(" in {} parts", s.parts.size()) : "", s.version, s.alignment);
    if (split) {
        fmt::print("parts           split model: {} tensors in {} files\n", s.n_tensors, s.parts.size());
        for (size_t i = 0; i < s.parts.size(); ++i) {
            fmt::print("  {:>5}  {}  ({}, {} tensor{})\n", i + 1, s.parts[i].path, human_bytes(s.parts[i].file_size),
                       s.parts[i].n_tensors, s.parts[i].n_tensors == 1 ? "" : "s");
        }
    }
    fmt::print("architecture    {}{}\n", s.architecture.empty() ? "(none)" : terminal_text(s.architecture),
               s.name.empty() ? "" : fmt::format("  \"{}\"", terminal_text(s.name)));
    fmt::print("parameters      {} in {} tensors; {} metadata keys\n", human_count(s.n_params), s.n_tensors,
               s.n_metadata);
    fmt::print("context length  {}\n", s.context_length ? fmt::format("{}", s.context_length) : "(not set)");
    if (s.tokenizer_model.empty()) {
        fmt::print("tokenizer       (none)\n");
    } else {
        fmt::print("tokenizer       {}{}, {} tokens, chat template: {}\n", terminal_text(s.tokenizer_model),
                   s.tokenizer_pre.empty() ? "" : " (pre: " + terminal_text(s.tokenizer_pre) + ")", s.vocab_size,
                   s.has_chat_template ? "yes" : "no");
    }
    if (!s.hparams.empty()) {
        fmt::print("hyper-parameters\n");
        for (const auto & [k, v] : s.hparams) fmt::print("  {:<34} {}\n", terminal_text(k), v);
    }
    fmt::print("bytes by type\n");
    for (const auto & [name, b] : s.by_type) {
        fmt::print("  {:<8} {:>5} tensors  {:>12}  {:5.1f}%\n", name, b.tensors, human_bytes(b.bytes), pct(b.bytes));
    }
    fmt::print("routed experts  {} ({:.1f}% of tensor bytes)\n", human_bytes(s.routed_expert_bytes),
               pct(s.routed_expert_bytes));
    fmt::print("resident        {} (attention, norms, routers, embeddings, shared experts)\n", human_bytes(resident));
    if (opt.metadata) {
        fmt::print("metadata\n");
        for (const gguf_kv & kv : file.metadata()) {
            fmt::print("  {:<40} {}\n", terminal_text(kv.key), render_value(kv.value));
        }
    }
    if (opt.tensors) {
        fmt::print("tensors\n");
        const std::vector<std::optional<tensor_role>> roles = tensor_roles(file);
        size_t                                        i     = 0;
        for (const gguf_tensor & t : file.tensors()) {
            const std::optional<tensor_role> r = roles[i++];
            fmt::print("  {:<36} {:<6} {:<22} {}offset {:>12}  {:>12}  {}\n", terminal_text(t.name), type_name(t.type),
                       dims_text(t), split ? fmt::format("part {} ", t.part + 1) : "", file.file_offset(t),
                       human_bytes(t.nbytes), r ? name_of(*r) : "?");
        }
    }
}

}  // namespace

void add_info_command(CLI::App & app) {
    auto   opt = std::make_shared<info_options>();
    auto * cmd = app.add_subcommand("info", "validate a GGUF file and describe what it holds");
    cmd->add_option("-m,--model", opt->model, "GGUF file (of a split model: the first part; all parts are read)")
        ->required();
    cmd->add_flag("--json", opt->json, "Print JSON instead of text");
    cmd->add_flag("--tensors", opt->tensors,
                  "List every tensor (name, type, dims, part of a split model, file offset, bytes)");
    cmd->add_flag("--metadata", opt->metadata, "List every metadata key and value");
    cmd->add_flag("--check", opt->check,
                  "Also read every tensor and fail on NaN/Inf values (reads the whole file), and build the model "
                  "as `run` does; prints a pass line");
    cmd->callback([opt] {
        const gguf_file file = gguf_file::open(opt->model);
        check_result    checked;
        if (opt->check) {
            check_tensor_values(file);
            checked = check_as_model(file);
        }
        gguf_summary                                  s     = summarize(file);
        const std::vector<std::optional<tensor_role>> roles = tensor_roles(file);
        for (size_t i = 0; i < roles.size(); ++i) {
            if (roles[i] == tensor_role::EXPERTS) {
                s.routed_expert_bytes += file.tensors()[i].nbytes;
            }
        }
        if (opt->json) {
            nlohmann::json j = to_json(file, s, *opt);
            if (opt->check) {
                j["check"] = {{"passed", true}, {"model_checked", checked.model_checked}};
            }
            fmt::print("{}\n", j.dump(2));
        } else {
            print_text(file, s, *opt);
            if (opt->check) {
                fmt::print("{}\n", checked.line);
            }
        }
    });
}

}  // namespace sluice::cli
