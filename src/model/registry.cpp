#include "model/registry.h"

#include "gguf/gguf.h"
#include "model/architectures.h"
#include "util/error.h"

#include <fmt/format.h>

namespace sluice {
namespace {

struct entry {
    std::string_view name;
    std::unique_ptr<model> (*build)(const gguf_file &);
};

constexpr entry k_architectures[] = {
    {"qwen3moe", &build_qwen3moe},   {"llama", &build_llama},     {"olmoe", &build_olmoe},
    {"qwen2moe", &build_qwen2moe},   {"gpt-oss", &build_gpt_oss}, {"deepseek2", &build_deepseek2},
    {"qwen3next", &build_qwen3next},
};

}  // namespace

std::vector<std::string_view> supported_architectures() {
    std::vector<std::string_view> names;
    for (const entry & e : k_architectures) {
        names.push_back(e.name);
    }
    return names;
}

std::unique_ptr<model> load_model(const gguf_file & file) {
    const std::string_view arch = file.architecture();
    for (const entry & e : k_architectures) {
        if (e.name == arch) {
            return e.build(file);
        }
    }
    fail("{}: architecture '{}' is not supported (supported: {})", file.path(), arch.empty() ? "(none)" : arch,
         fmt::join(supported_architectures(), ", "));
}

}  // namespace sluice
