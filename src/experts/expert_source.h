// The seam between the forward pass and where expert bytes live. A MoE block asks its
// source for the experts the router chose; the source returns their matrices, from the
// mapped file (mmap_expert_source) or, with a RAM budget, from the streaming cache. The
// forward pass never knows which.
#pragma once

#include "experts/expert_store.h"

#include <cstdint>
#include <span>

namespace sluice {

class expert_source {
  public:
    virtual ~expert_source() = default;

    // Makes experts `ids` of `layer` available and writes their matrices to out[i]. The
    // views stay valid until the next call into the source.
    virtual void acquire(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out) = 0;

    // The most experts of `layer` one acquire() may ask for (the cache's slots for the layer);
    // a MoE block that needs more, as prefill may, asks in turns.
    virtual int max_acquire(int /*layer*/) const { return 1 << 30; }

    // Called by the forward pass with the residual stream entering block `layer`'s FFN
    // (after its attention), n rows of n_embd, before the layer's own acquire(). A streaming
    // source predicts the experts of later layers from it and starts reading them while
    // this layer computes. Results must not depend on it; the default ignores it.
    virtual void on_ffn_input(int /*layer*/, const float * /*x*/, int64_t /*n*/) {}
};

// Everything is in the mapping: a view is a pointer into the file.
class mmap_expert_source final : public expert_source {
  public:
    explicit mmap_expert_source(const expert_store & store) : store_(store) {}

    void acquire(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out) override {
        for (size_t i = 0; i < ids.size(); ++i) {
            out[i] = store_.view(layer, ids[i]);
        }
    }

  private:
    const expert_store & store_;
};

}  // namespace sluice
