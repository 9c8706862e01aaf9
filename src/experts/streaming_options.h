// How routed experts stream from disk (--expert-budget and the flags that tune it), apart
// from the source that does it, so that the engine's API needs no more than this.
#pragma once

#include "experts/cache/cache_index.h"
#include "experts/cache/cache_plan.h"
#include "experts/cache/shadow_policy.h"
#include "experts/expert_parallel.h"
#include "experts/io/loader.h"
#include "experts/predict/predictor_kind.h"
#include "tensor/types.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sluice {

struct streaming_options {
    uint64_t        budget        = 0;                     // bytes of expert slots
    predictor_kind  predictor     = predictor_kind::NONE;  // docs/streaming.md: guesses cost more than they hide
    eviction_policy eviction      = eviction_policy::MARKOV;
    quota_policy    quota         = quota_policy::SHALLOW;
    int             predict_extra = 2;  // predict k + extra experts per layer
    int             predict_depth = 1;  // how many MoE layers ahead
    int             pin_hot       = 0;  // per layer, keep this many of the most popular experts
    reader_options  reader;
    // Wraps the reader the source opens, when set: tests put a reader in between whose reads
    // land when the test says, to reach the paths that depend on when reads land.
    std::function<std::unique_ptr<async_reader>(std::unique_ptr<async_reader>)> wrap_reader;
    std::string calibration_path;  // frequency, pregate, popularity quota, pinning
    std::string trace_path;        // oracle
    // Hold cached experts in this type (re-quantized as they load, so more fit); results then
    // differ from the file's by that quantization. nullopt: the file's bytes, bit-exact.
    std::optional<ggml_type> cache_type;
    // Fate's lower-precision IO: the routed experts again in a smaller type (`sluice quantize
    // --expert-shadow`), read where `shadow` says. Lossy unless NONE.
    std::string   shadow_path;
    shadow_policy shadow = shadow_policy::NONE;
    // The exact experts pre-packed for the runner's ISA (`sluice pack-experts`,
    // experts/packed_file.h): read from there into the kernels' packed form. Same bytes, same
    // results, faster expert compute. Empty: read from the model's file.
    std::string packed_path;
    // Exact experts read from the model's file are packed where they land, in their slot, into
    // the kernels' form (where the ISA has one for the layer's types): the same results,
    // faster expert compute for every later use, at the cost of one pass over each read.
    // false: they stay as the file lays them out (--no-repack).
    bool pack_on_read = true;
    // Expert parallelism: this process computes only the experts `partition` gives `rank`, so
    // its cache plans, reads, predicts and pins only those. Empty: every expert.
    expert_partition partition;
    int              rank = 0;
};

}  // namespace sluice
