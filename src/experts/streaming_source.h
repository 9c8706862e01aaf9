// The expert source for models whose routed experts do not fit in RAM: experts are read from
// the file into a cache of slots that never holds more than the budget. A predictor names
// the experts of the next MoE layer(s) while this one computes, so their reads overlap
// compute; what it misses is read on demand. Results are those of the in-RAM run, bit for
// bit: the bytes are the file's, and the kernels see the same matrices.
//
// The pieces: expert_cache decides what to read and into which slot (and counts), this class
// moves the bytes for it (cache_reads) with an async_reader into slot_memory, through
// requant_staging under --cache-type.
#pragma once

#include "experts/cache/cache_plan.h"
#include "experts/cache/expert_cache.h"
#include "experts/cache/requant_staging.h"
#include "experts/cache/slot_memory.h"
#include "experts/calibration.h"
#include "experts/expert_source.h"
#include "experts/expert_store.h"
#include "experts/io/loader.h"
#include "experts/predict/predictor.h"
#include "experts/streaming_options.h"
#include "experts/streaming_stats.h"
#include "experts/trace.h"
#include "kernels/thread_scratch.h"

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

class streaming_expert_source final : public expert_source, private cache_reads {
  public:
    // Plans the cache (throws when the budget cannot hold one token's experts per layer),
    // allocates its slots, opens the files for reading, builds the predictor. `paths` are
    // the files the store's slabs lie in (expert_store::part_paths(): one per part of a split
    // model), each expert matrix read from its part at its offset.
    streaming_expert_source(const std::vector<std::string> & paths, const expert_store & store,
                            std::span<const router> routers, int n_expert_used, matmul_runner & mm,
                            const streaming_options & opt);
    ~streaming_expert_source() override;

    // Yields the experts in turns of what the layer's slots hold: while one turn computes,
    // the next is read (half the slots each when they do not all fit).
    void for_each_expert(int layer, std::span<const int32_t> ids, const group_fn & fn) override;
    void on_ffn_input(int layer, const float * x, std::span<const int64_t> positions) override;
    void resident(int layer, std::span<uint8_t> out) const override;

    // The layer's slots: the most experts one turn of for_each_expert() may hold.
    int max_acquire(int layer) const { return cache_->max_acquire(layer); }

    // Bytes of slot memory one expert of each layer takes (0 for dense blocks). With a shadow
    // a slot holds either copy, or under ALL only the shadow's.
    static std::vector<uint64_t> slot_bytes(const expert_store & store, const expert_store * shadow = nullptr,
                                            shadow_policy policy = shadow_policy::NONE);
    // The smallest budget that runs: k experts of every MoE layer.
    static uint64_t minimum_budget(const expert_store & store, int n_expert_used);

    // Counters so far (wasted reads include experts resident and never used).
    stream_stats stats() const { return cache_->stats_counting_residents(); }

  private:
    // The constructor's steps, in order.
    void              load_side_files(isa target);           // calibration, trace, shadow, packed experts
    cache_plan        plan_slots(const std::string & path);  // and the staging it needs
    void              allocate(const cache_plan & p);        // slots, tickets, the cache
    predictor_context predictor_inputs(matmul_runner & mm) const;
    void              describe(const cache_plan & p);  // the stats' header
    void              pin_hot();

    // cache_reads: the three reads of an expert, into its slot or (re-quantizing) a staging
    // buffer. A prefetch that finds no staging buffer free is refused; a demand read
    // finishes older loads until one is free.
    read_start start_read(int layer, int slot, int32_t expert, bool prefetch, bool shadow) override;
    void       wait_read(int layer, int slot) override;
    void       abandon_read(int layer, int slot) override;
    // Waits for every read of the slot, ignoring errors.
    void drain(int layer, int slot);
    // Which layers' exact reads are packed where they land (streaming_options::pack_on_read),
    // and the packing of one slot's three matrices over the pool.
    void plan_packing();
    void pack_slot(int layer, int slot);
    // Packs group `group` (16 rows) of a slot's matrix where it lies, through `thread`'s scratch.
    void pack_group(const weight_matrix & w, int64_t group, int thread);
    // Packs an expert the slot holds, read unpacked, once packing pays in its layer.
    void pack_held(int layer, int slot);
    // Packing while the forward pass waits for a read still in flight, when the cores are idle
    // anyway: one group of 16 rows at a time of an exact expert read unpacked that nobody
    // holds, until the slot's read is in, so the wait ends at most one group (about 1.5 us) late.
    void pack_while_waiting(int layer, int slot);
    // Packs the next group of the expert being packed while waiting, choosing one first
    // (choose_idle_pack: the layers after `layer` first, they compute next); false when
    // none is left.
    bool pack_one_group_while_waiting(int layer);
    bool choose_idle_pack(int layer);
    // Completes a slot packed partly while waiting, before its view is made.
    void finish_idle_pack(int layer, int slot);
    // Whether the slot is the one being packed while waiting (packed partly so far).
    bool packing_while_waiting(int layer, int slot) const { return idle_.layer == layer && idle_.slot == slot; }
    // The expert being packed while waiting: its slot, the matrix (0 gate, 1 up, 2 down) and
    // its group of 16 rows next, and the slot's matrices as the file lays them out; layer -1
    // when none.
    struct idle_pack {
        int             layer = -1, slot = -1, matrix = 0;
        int64_t         group = 0;
        expert_matrices mats{};
    };
    void issue_guesses();  // reads pending_guesses_ ahead

    // One turn of for_each_expert: experts `ids` of `layer` held (expert_cache::request), their
    // matrices in out[i] (views into the slots, some still being read; valid until the next
    // call into the source).
    void request(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out, bool one_token);
    // Yields the turn's experts (which[i], mats[i]) as their reads land, computing those held
    // while the rest are read; reads the guesses and `next_turn` ahead once its demand reads
    // are done.
    void yield_as_read(int layer, std::span<const size_t> which, std::span<const expert_matrices> mats,
                       std::span<const int32_t> next_turn, const group_fn & fn);
    // Whether the turn may read ahead: none of waiting_[next..] is a demand read still running.
    bool may_read_ahead(int layer, size_t next) const;
    // Whether every read of the slot has completed (does not block).
    bool read_done(int layer, int slot);
    // Starts reading experts `ids` of `layer` into slots the forward pass does not hold.
    void prefetch(int layer, std::span<const int32_t> ids);

    int next_moe_layer(int after) const;
    // Where the exact experts are read from: the packed file, or the model's.
    const expert_store & exact_store() const { return packed_store_ ? *packed_store_ : store_; }
    // Whether a slot holding an exact expert holds it packed, once its read is done.
    bool exact_packed(int layer, int slot) const { return packed_store_.has_value() || slot_packed_[layer][slot] != 0; }
    // Whether packing an exact copy (not a shadow one) of an expert of `layer` now should pay
    // for itself: the layer packs, and its experts are used at least k_pack_uses_per_read
    // times per read so far (see the .cpp).
    static constexpr uint64_t k_pack_uses_per_read = 3;
    bool                      packing_pays(int layer, bool shadow) const;
    // Whether this process computes expert e of layer l (always, without a partition).
    bool owns(int layer, int32_t expert) const {
        return opt_.partition.empty() || opt_.partition.owner(layer, expert) == opt_.rank;
    }
    // The most experts this process owns in any layer: what a layer's slots are capped at.
    int owned_per_layer() const;

    const expert_store &           store_;
    std::vector<router>            routers_;
    int                            k_;
    streaming_options              opt_;
    std::optional<calibration>     calib_;
    std::optional<routing_trace>   trace_;
    std::optional<requant_staging> staging_;       // --cache-type
    std::optional<gguf_file>       shadow_file_;   // --shadow
    std::optional<expert_store>    shadow_store_;  // its experts
    std::optional<gguf_file>       packed_file_;   // --packed-experts
    std::optional<expert_store>    packed_store_;  // its experts: the exact ones, packed
    matmul_runner &                mm_;            // its pool packs, its ISA's form
    std::vector<char>              pack_layer_;    // [layer]: its exact reads may be packed on arrival
    std::vector<std::vector<char>> slot_packed_;   // [layer][slot]: its read is (to be) packed
    std::vector<thread_scratch>    pack_scratch_;  // [pool thread]: one group's bytes
    idle_pack                      idle_;
    bool                           idle_exhausted_ = false;  // no expert left to pack while waiting until a read starts
    uint32_t                       shadow_part_    = 0;      // the reader's file index of its first part
    slot_memory                    memory_;
    std::vector<std::vector<std::array<uint64_t, 3>>> tickets_;  // [layer][slot]: gate, up, down reads in flight
    std::unique_ptr<async_reader>                     reader_;   // after the memory: destroyed first, reaping reads
    std::unique_ptr<expert_predictor>                 predictor_;
    std::optional<expert_cache>                       cache_;
    std::vector<int32_t>                              scratch_;  // guesses
    // Guesses made when a layer's input arrived, read once that layer's own experts have
    // been asked for, so a demand read never queues behind a guess: (target layer, experts).
    std::vector<std::pair<int, std::vector<int32_t>>> pending_guesses_;
    std::vector<int>                                  slots_;        // the turn's slots
    std::vector<size_t>                               waiting_;      // the turn's entries whose reads ran at request
    std::vector<size_t>                               group_which_;  // the group yield_as_read yields next
    std::vector<expert_matrices>                      group_mats_;
    std::vector<expert_matrices>                      turn_;     // for_each_expert's current group
    std::vector<size_t>                               order_;    // for_each_expert's order of ids
    std::vector<int32_t>                              ordered_;  // ids in that order
    size_t pass_tokens_ = 0;  // tokens in the current forward pass (on_ffn_input's positions)
};

}  // namespace sluice
