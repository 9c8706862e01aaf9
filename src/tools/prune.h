// `sluice prune` (EASY-EP): keep the experts a domain needs. Experts are scored on a few
// demonstrations by how much they contribute, summed over tokens: routing weight x the norm
// of the expert's output (what the expert adds to the residual stream). Every MoE layer keeps
// the same number of experts (a GGUF file has one expert_count), the best by score, in their
// original order; the expert tensors and the router rows are sliced whole (an expert is the
// outermost dimension, so its bytes stay in their quant blocks: no re-quantization).
//
// A pruned model equals the original run with --expert-mask of the removed experts: a masked
// expert's logit is -inf, so it leaves the softmax as a cut one does.
#pragma once

#include "engine/engine.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice {

struct expert_scores {
    std::vector<std::vector<double>>   score;  // [layer][expert]: sum of weight x |output|; empty for dense layers
    std::vector<std::vector<uint64_t>> uses;   // [layer][expert]: tokens routed to it
    int64_t                            tokens = 0;
};

// Runs the tokens through the model in chunks of n_ctx (each from an empty cache) and scores
// every expert. on_chunk(done, total) reports progress.
expert_scores score_experts(engine & e, std::span<const int32_t> tokens, int64_t n_ctx,
                            const std::function<void(int64_t, int64_t)> & on_chunk = nullptr);

// Per MoE layer the `keep` best-scoring experts (ties: the lower id), in increasing id order;
// empty for dense layers.
std::vector<std::vector<int32_t>> choose_experts(const expert_scores & s, int keep);

// Writes `in` with only the kept experts: every per-expert tensor (routed experts' weights and
// biases, router rows and bias, DeepSeek's selection bias) sliced, expert_count = keep, and
// the kept ids in "sluice.prune.kept_experts" (layer-major); a split model of parts of at
// most split_max_bytes when that is not 0. Returns the files written. Throws when keep is
// below the experts a token uses, or the model has expert groups (they would not survive a cut).
std::vector<std::string> write_pruned_model(const gguf_file & in, const model_hparams & hp,
                                            const std::vector<std::vector<int32_t>> & kept, const std::string & path,
                                            uint64_t split_max_bytes = 0);

}  // namespace sluice
