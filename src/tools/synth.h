// Random-weight models with the geometry of real ones, for benchmarks of models that cannot
// be downloaded here (`sluice synth --like qwen3-30b-a3b --layers 8 --type q4_k`).
#pragma once

#include "tensor/types.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class thread_pool;

struct synth_geometry {
    std::string name;
    std::string arch;  // general.architecture of the real model
    int64_t     n_layer, n_embd, n_head, n_head_kv, head_dim, n_expert, n_expert_used, n_ff_expert, n_vocab, n_ctx;
    double      rope_base;
    int64_t     n_ff_shared    = 0;  // shared expert width (qwen2moe, deepseek2, qwen3next)
    int64_t     sliding_window = 0;  // gpt-oss

    // deepseek2: shared expert count, leading dense blocks and multi-head latent attention.
    int64_t n_expert_shared = 0, n_layer_dense = 0, n_ff_dense = 0;
    int64_t q_lora = 0, kv_lora = 0, qk_nope = 0, qk_rope = 0, v_head = 0;
    // qwen3next: partial RoPE, gated DeltaNet blocks between full-attention ones.
    int64_t rope_dim = 0, full_attention_interval = 0, ssm_k_heads = 0, ssm_v_heads = 0, ssm_head_dim = 0,
            ssm_conv_kernel = 0;
};

// Known real geometries (qwen3-30b-a3b, mixtral-8x7b, gpt-oss-20b, deepseek-v2-lite, ...); throws
// listing them.
synth_geometry                find_geometry(std::string_view name);
std::vector<std::string_view> geometry_names();

struct synth_options {
    std::string arch;  // empty: the geometry's own; otherwise it must be the geometry's
    std::string like    = "qwen3-30b-a3b";
    int64_t     n_layer = 0;  // 0: the real model's count
    int64_t     n_vocab = 0;  // 0: the real model's vocabulary (smaller: tests that need little RAM)
    // Every weight matrix (routers, norms and biases stay F32). gpt-oss's experts are MXFP4
    // as released, and its matrices whose rows the type's blocks do not divide (2880 % 256)
    // fall back to Q8_0, as llama.cpp's quantizer does.
    ggml_type type = ggml_type::Q4_K;
    uint64_t  seed = 1;
    // A GGUF whose tokenizer (tokenizer.* keys) the model gets, so tools that need one (llama.cpp's)
    // load it: its tokens, then "<unused N>" tokens of type unused up to the vocabulary size.
    std::string tokenizer_from;
};

// Writes the model; returns its size in bytes.
uint64_t write_synthetic_model(const synth_options & opt, const std::string & path, thread_pool & pool);
// The same for a geometry of the caller's (opt.like, arch, n_layer and n_vocab are ignored):
// the tensors come from the architecture's table (model/tensor_table.h).
uint64_t write_synthetic_model(const synth_geometry & g, const synth_options & opt, const std::string & path,
                               thread_pool & pool);

}  // namespace sluice
