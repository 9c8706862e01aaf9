// Hyper-parameters of a MoE transformer, read from `<arch>.*` metadata as llama.cpp names
// them. One struct serves every architecture; fields an architecture does not use stay 0.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

class gguf_file;

struct model_hparams {
    std::string arch;
    int64_t     n_layer       = 0;
    int64_t     n_embd        = 0;  // d
    int64_t     n_head        = 0;
    int64_t     n_head_kv     = 0;
    int64_t     head_dim      = 0;  // key_length (== value_length for the archs so far)
    int64_t     n_vocab       = 0;
    int64_t     n_ctx_train   = 0;
    double      rope_base     = 10000.0;
    int64_t     rope_dim      = 0;  // rotated dims per head (rope.dimension_count, default head_dim)
    float       rms_eps       = 1e-6f;
    int64_t     n_expert      = 0;
    int64_t     n_expert_used = 0;
    int64_t     n_ff_expert   = 0;
    int64_t     n_ff_shared    = 0;  // expert_shared_feed_forward_length (Qwen2-MoE), 0: none
    int64_t     sliding_window = 0;  // attention.sliding_window (gpt-oss), 0: none
};

// Reads the keys every MoE transformer has (block_count, embedding_length, head counts,
// context_length, rope base, rms epsilon, expert counts) and the optional ones some have
// (expert widths, sliding window). Missing required keys or
// inconsistent values (heads not dividing, k > experts, ...) throw naming key and file.
model_hparams read_moe_hparams(const gguf_file & file, const std::string & arch);

}  // namespace sluice
