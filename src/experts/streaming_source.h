// The expert source for models whose routed experts do not fit in RAM: experts are read from
// the file into a cache of slots that never holds more than the budget. A predictor names
// the experts of the next MoE layer(s) while this one computes, so their reads overlap
// compute; what it misses is read on demand. Results are those of the in-RAM run, bit for
// bit: the bytes are the file's, and the kernels see the same matrices.
#pragma once

#include "experts/cache/cache_index.h"
#include "experts/cache/cache_plan.h"
#include "experts/calibration.h"
#include "experts/expert_source.h"
#include "experts/expert_store.h"
#include "experts/io/loader.h"
#include "experts/predict/predictor.h"
#include "experts/streaming_stats.h"
#include "experts/trace.h"

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

struct streaming_options {
    uint64_t        budget        = 0;  // bytes of expert slots
    predictor_kind  predictor     = predictor_kind::cross_layer;
    eviction_policy eviction      = eviction_policy::PREDICTIVE;
    quota_policy    quota         = quota_policy::SHALLOW;
    int             predict_extra = 2;  // predict k + extra experts per layer
    int             predict_depth = 1;  // how many MoE layers ahead
    int             pin_hot       = 0;  // per layer, keep this many of the most popular experts
    reader_options  reader;
    std::string     calibration_path;  // frequency, pregate, popularity quota, pinning
    std::string     trace_path;        // oracle
    // Hold cached experts in this type (re-quantized as they load, so more fit); results then
    // differ from the file's by that quantization. nullopt: the file's bytes, bit-exact.
    std::optional<ggml_type> cache_type;
};

class streaming_expert_source final : public expert_source {
  public:
    // Plans the cache (throws when the budget cannot hold one token's experts per layer),
    // allocates its slots, opens the file for reading, builds the predictor.
    streaming_expert_source(const std::string & path, const expert_store & store, std::span<const router> routers,
                            int n_expert_used, matmul_runner & mm, const streaming_options & opt);
    ~streaming_expert_source() override;

    void acquire(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out) override;
    void on_ffn_input(int layer, const float * x, int64_t n) override;
    void prefetch(int layer, std::span<const int32_t> ids) override;
    int  max_acquire(int layer) const override;

    // Bytes of slot memory one expert of each layer takes (0 for dense blocks).
    static std::vector<uint64_t> slot_bytes(const expert_store & store);
    // The smallest budget that runs: k experts of every MoE layer.
    static uint64_t minimum_budget(const expert_store & store, int n_expert_used);

    // Counters so far (wasted reads include experts resident and never used).
    stream_stats stats() const;

  private:
    struct layer_memory {
        std::byte *                          base      = nullptr;  // slots * slot_bytes, page-aligned
        uint64_t                             size      = 0;
        uint64_t                             gate_span = 0;  // room for each matrix, with alignment slack
        uint64_t                             up_span   = 0;
        uint64_t                             down_span = 0;
        std::vector<std::array<uint64_t, 3>> tickets;  // per slot, while loading
    };

    // Submits the expert's three reads. Re-quantizing, the bytes go to a staging buffer
    // first: a prefetch that finds none free returns false (and starts nothing); a demand
    // read finishes older loads until one is free.
    bool start_read(int layer, int slot, int32_t expert, bool prefetch);
    // Waits for a slot's reads, without using the bytes (its expert was evicted).
    void abandon_read(int layer, int slot);
    void release_staging(int layer, int slot);
    void convert(int layer, int slot);
    void finish_read(int layer, int slot);
    // A slot for the expert by the eviction policy (waiting out a read still filling it),
    // or -1 when every slot is held, pinned or, for a prefetch, predicted.
    int             claim(int layer, int32_t expert, bool prefetch);
    expert_matrices view(int layer, int slot, int32_t expert) const;
    int             next_moe_layer(int after) const;

    const expert_store &              store_;
    std::vector<router>               routers_;
    int                               k_;
    streaming_options                 opt_;
    cache_plan                        plan_;
    std::optional<cache_index>        index_;
    std::vector<layer_memory>         mem_;
    std::optional<calibration>        calib_;
    std::optional<routing_trace>      trace_;
    std::unique_ptr<expert_predictor> predictor_;
    // Re-quantizing (cache_type): where reads land before conversion.
    std::optional<ggml_type>        convert_to_;
    std::byte *                     staging_base_ = nullptr;
    uint64_t                        staging_span_ = 0, staging_size_ = 0;
    std::vector<int>                free_staging_;
    std::vector<std::vector<int>>   staging_of_;  // [layer][slot] -> staging buffer or -1
    std::deque<std::pair<int, int>> staged_;      // (layer, slot) loads holding staging, oldest first
    std::unique_ptr<async_reader>   reader_;      // after mem_: destroyed first, reaping reads
    stream_stats                    stats_;
    std::vector<uint8_t>            foreseen_;  // [layer]: has been predicted at all
    int64_t                         pos_ = 0;   // rows seen, for the oracle
    std::vector<int32_t>            scratch_;
};

}  // namespace sluice
