// The expert cache's admission sequence and its counters, without memory or IO. Given a
// layer and the experts the forward pass needs (acquire) or the predictor guesses
// (predict, prefetch), it decides which are hits, which slot each miss takes (cache_index
// and the eviction policy), what must be read, what is evicted and whether that read was
// wasted, and counts it all in stream_stats. The bytes are moved by a `cache_reads`: the
// streaming source reads the file, `sluice simulate` completes every read as it starts.
// Both drive this one sequence, so their counters agree (tests/tools/replay_test.cpp).
#pragma once

#include "experts/cache/cache_index.h"
#include "experts/cache/shadow_policy.h"
#include "experts/streaming_stats.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sluice {

// What became of a read the cache asked for.
enum class read_start {
    REFUSED,  // nothing started (a guess found no staging buffer free): the slot is given back
    PENDING,  // in flight: the cache waits for it before the expert is used
    DONE,     // the bytes are in place already (a simulation's reads)
};

// Whoever moves the bytes. Every call names a layer and one of its slots.
class cache_reads {
  public:
    virtual ~cache_reads() = default;

    // Starts reading `expert` into the slot, from the shadow file when `shadow`. Only a
    // prefetch may be refused.
    virtual read_start start_read(int layer, int slot, int32_t expert, bool prefetch, bool shadow) = 0;
    // Blocks until the slot's read is complete and its bytes usable; throws sluice::error on
    // a read error (the cache then forgets the slot).
    virtual void wait_read(int layer, int slot) = 0;
    // The slot's expert was evicted while its read may still run: lets the read end, and
    // ignores its outcome (it is not this pass's error).
    virtual void abandon_read(int layer, int slot) = 0;
};

class expert_cache {
  public:
    // slots: per layer (0 for a dense block). expert_bytes: per layer, what one expert read
    // adds to the byte counters (the file's bytes live; 1 in a simulation, which counts experts).
    // shadow_bytes: the same for a read of the shadow file, which `shadow` says when to use
    // (empty for NONE).
    expert_cache(const std::vector<int> & slots, int n_expert, eviction_policy policy,
                 std::vector<uint64_t> expert_bytes, cache_reads & reads, shadow_policy shadow = shadow_policy::NONE,
                 std::vector<uint64_t> shadow_bytes = {});

    const cache_index & index() const { return index_; }

    // The most experts one acquire() of `layer` may ask for: the slots not pinned (at least 1).
    int max_acquire(int layer) const;

    // The forward pass has moved on: it holds no slot any more.
    void release_all();

    // The predictor's guesses for `layer`, best first: what fits the layer's slots becomes the
    // layer's predicted set (spared by the predictive policy) and is read ahead.
    void predict(int layer, std::span<const int32_t> guess);

    // Reads ahead experts `ids` of `layer` that are not cached, into slots nobody holds and no
    // other guess occupies; stops at the first that finds no slot or no staging buffer.
    void prefetch(int layer, std::span<const int32_t> ids);

    // The order to acquire experts `ids` of `layer` in: indices into ids, those the cache holds
    // (or is reading) first, then the rest, each part in the order given. A batch that needs
    // more experts than the layer's slots then computes what it holds before its reads evict
    // it; in id order a step of 24 experts through 16 slots read nearly all 24 every step.
    // The live source and the simulation both acquire in this order.
    void held_first(int layer, std::span<const int32_t> ids, std::vector<size_t> & order) const;

    // Experts `ids` of `layer`, which the forward pass needs now: writes each one's slot to
    // slots[i], waiting for every read. The slots are held until release_all(). Throws when
    // the layer has too few free slots for them all. Under a shadow policy a miss may be read
    // from the shadow (COLD, ALL), and a shadow copy serves one use: asked for again while
    // cached, it is read exact into its slot (COLD, SPECULATIVE).
    // `one_token`: ids are every expert one token uses in this layer (cache_index::begin_pass).
    void acquire(int layer, std::span<const int32_t> ids, std::span<int> slots, bool one_token = false);

    // acquire() without its waits: holds and counts the same, claims the same slots and starts
    // the same reads, but returns while reads may still run. finish() each slot before using
    // it; loading() says which still need it. acquire() is request() then finish() of every
    // slot, so the cache's decisions do not depend on when the bytes arrive.
    void request(int layer, std::span<const int32_t> ids, std::span<int> slots, bool one_token = false);
    bool loading(int layer, int slot) const { return index_.slot(layer, slot).status == slot_status::LOADING; }

    // Completes the slot's read if it is still pending. The streaming source calls it from
    // inside start_read() to get a staging buffer back from the oldest load.
    void finish(int layer, int slot);

    // Policies that know the future (a simulation's): when `expert` of `layer` is next used,
    // and the trace position being replayed.
    void set_next_use(int layer, int32_t expert, uint64_t when) { index_.set_next_use(layer, expert, when); }
    void set_now(uint64_t when) { index_.set_now(when); }

    // Reads `expert` into `layer` now and keeps it for good (--pin-hot).
    void pin(int layer, int32_t expert);

    // Counters so far; wasted reads are experts evicted without being used. The driver adds
    // what it measures itself (reader, IO wait, predict time, tokens).
    const stream_stats & stats() const { return stats_; }
    stream_stats &       stats() { return stats_; }
    // The same, also counting as wasted the experts resident now and never used.
    stream_stats stats_counting_residents() const;

  private:
    // A slot for `expert` by the eviction policy (letting a read still filling it end), or -1
    // when every slot is held, pinned or, for a prefetch, predicted.
    int        claim(int layer, int32_t expert, bool prefetch);
    read_start start(int layer, int slot, int32_t expert, bool prefetch, bool shadow);
    // Whether a read that is (or is not) a prefetch goes to the shadow file.
    bool from_shadow(bool prefetch) const;
    // What a read of the slot's copy costs: the exact expert's bytes or the shadow's.
    uint64_t bytes_of(int layer, bool shadow) const { return shadow ? shadow_bytes_[layer] : expert_bytes_[layer]; }

    cache_index           index_;
    std::vector<uint64_t> expert_bytes_;  // [layer]
    shadow_policy         shadow_;
    std::vector<uint64_t> shadow_bytes_;  // [layer]
    std::vector<uint8_t>  upgrade_;       // acquire's: the slot holds a used shadow copy, read it exact
    cache_reads &         reads_;
    stream_stats          stats_;
    std::vector<uint8_t>  foreseen_;  // [layer]: has been predicted at all (recall's base)
    std::vector<int32_t>  kept_;      // the guesses that fit, reused
};

}  // namespace sluice
