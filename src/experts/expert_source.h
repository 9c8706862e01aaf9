// The seam between the forward pass and where expert bytes live. A MoE block hands its
// source the experts the router chose; the source yields their matrices, from the mapped
// file (mmap_expert_source) or, with a RAM budget, from the streaming cache, and decides
// which are computed when (a cache that cannot hold them all yields them in turns, reading
// the next turn meanwhile). The forward pass never knows which.
#pragma once

#include "experts/expert_store.h"
#include "experts/packed_experts.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>

namespace sluice {

class expert_source {
  public:
    // A group of experts: mats[j] holds expert ids[which[j]]. The views are valid during the
    // call only.
    using group_fn = std::function<void(std::span<const size_t> which, std::span<const expert_matrices> mats)>;

    virtual ~expert_source() = default;

    // Calls fn for groups covering each of experts `ids` of `layer` once, in an order of the
    // source's choosing: a streaming source yields the experts it holds first, so a batch that
    // routes to more experts than its cache holds does not evict them before their turn. The
    // caller sums the results in its own order, so the result does not depend on the source.
    virtual void for_each_expert(int layer, std::span<const int32_t> ids, const group_fn & fn) = 0;

    // Called by the forward pass with the residual stream entering block `layer`'s FFN (after
    // its attention), one row of n_embd per entry of `positions` (each row's position in its
    // own sequence; rows of a batched decode come from different sequences), before the
    // layer's for_each_expert(). A streaming source predicts the experts of later layers from
    // it and starts reading them while this layer computes. Results must not depend on it;
    // the default ignores it.
    virtual void on_ffn_input(int /*layer*/, const float * /*x*/, std::span<const int64_t> /*positions*/) {}

    // Which experts of `layer` cost no read now (out[e] = 1: in memory or already being read):
    // what --moe-prefer-cached routes toward. out has n_expert entries; the default (the
    // mapping): all of them.
    virtual void resident(int /*layer*/, std::span<uint8_t> out) const { std::fill(out.begin(), out.end(), 1); }
};

// Everything is in memory, and one group holds all: a view is a pointer into the file, or into
// the experts packed at load (`packed`, when given; the caller keeps it alive).
class mmap_expert_source final : public expert_source {
  public:
    explicit mmap_expert_source(const expert_store & store, const packed_experts * packed = nullptr)
        : store_(store), packed_(packed) {}

    void for_each_expert(int layer, std::span<const int32_t> ids, const group_fn & fn) override {
        mats_.resize(ids.size());
        which_.resize(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
            mats_[i]  = packed_ != nullptr ? packed_->view(layer, ids[i]) : store_.view(layer, ids[i]);
            which_[i] = i;
        }
        fn(which_, mats_);
    }

  private:
    const expert_store &         store_;
    const packed_experts *       packed_;
    std::vector<expert_matrices> mats_;
    std::vector<size_t>          which_;
};

}  // namespace sluice
