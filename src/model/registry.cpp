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
    std::span<const tensor_spec> (*tensors)();
};

constexpr entry k_architectures[] = {
    {"qwen3moe", &build_qwen3moe, &qwen3moe_tensors},
    {"llama", &build_llama, &llama_tensors},
    {"olmoe", &build_olmoe, &olmoe_tensors},
    {"qwen2moe", &build_qwen2moe, &qwen2moe_tensors},
    {"gpt-oss", &build_gpt_oss, &gpt_oss_tensors},
    {"deepseek2", &build_deepseek2, &deepseek2_tensors},
    {"qwen3next", &build_qwen3next, &qwen3next_tensors},
};

}  // namespace

std::vector<std::string_view> supported_architectures() {
    std::vector<std::string_view> names;
    for (const entry & e : k_architectures) {
        names.push_back(e.name);
    }
    return names;
}

std::span<const tensor_spec> tensor_table(std::string_view arch) {
    for (const entry & e : k_architectures) {
        if (e.name == arch) {
            return e.tensors();
        }
    }
    return {};
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
