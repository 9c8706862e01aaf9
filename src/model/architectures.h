// One builder and one tensor table per architecture file; registry.cpp maps names to them.
#pragma once

#include "model/model.h"
#include "model/tensor_table.h"

#include <memory>
#include <span>

namespace sluice {

class gguf_file;

std::unique_ptr<model>       build_qwen3moe(const gguf_file & file);
std::span<const tensor_spec> qwen3moe_tensors();
std::unique_ptr<model>       build_llama(const gguf_file & file);  // Mixtral layout
std::span<const tensor_spec> llama_tensors();
std::unique_ptr<model>       build_olmoe(const gguf_file & file);
std::span<const tensor_spec> olmoe_tensors();
std::unique_ptr<model>       build_qwen2moe(const gguf_file & file);
std::span<const tensor_spec> qwen2moe_tensors();
std::unique_ptr<model>       build_gpt_oss(const gguf_file & file);
std::span<const tensor_spec> gpt_oss_tensors();
std::unique_ptr<model>       build_deepseek2(const gguf_file & file);
std::span<const tensor_spec> deepseek2_tensors();
std::unique_ptr<model>       build_qwen3next(const gguf_file & file);
std::span<const tensor_spec> qwen3next_tensors();

}  // namespace sluice
