// One builder per architecture file; registry.cpp maps names to them.
#pragma once

#include "model/model.h"

#include <memory>

namespace sluice {

class gguf_file;

std::unique_ptr<model> build_qwen3moe(const gguf_file & file);
std::unique_ptr<model> build_llama(const gguf_file & file);  // Mixtral layout
std::unique_ptr<model> build_olmoe(const gguf_file & file);
std::unique_ptr<model> build_qwen2moe(const gguf_file & file);
std::unique_ptr<model> build_gpt_oss(const gguf_file & file);

}  // namespace sluice
