#include "experts/cache/expert_cache.h"

#include "util/error.h"

#include <algorithm>

namespace sluice {

expert_cache::expert_cache(const std::vector<int> & slots, int n_expert, eviction_policy policy,
                           std::vector<uint64_t> expert_bytes, cache_reads & reads, shadow_policy shadow,
                           std::vector<uint64_t> shadow_bytes)
    : index_(slots, n_expert, policy),
      expert_bytes_(std::move(expert_bytes)),
      shadow_(shadow),
      shadow_bytes_(std::move(shadow_bytes)),
      reads_(reads) {
    if (expert_bytes_.size() != slots.size()) {
        fail("expert cache: {} layers of slots but {} of expert sizes", slots.size(), expert_bytes_.size());
    }
    if (shadow_ != shadow_policy::NONE && shadow_bytes_.size() != slots.size()) {
        fail("expert cache: {} layers of slots but {} of shadow expert sizes", slots.size(), shadow_bytes_.size());
    }
    stats_.slots = slots;
    stats_.layers.resize(slots.size());
    foreseen_.assign(slots.size(), 0);
}

void expert_cache::held_first(int layer, std::span<const int32_t> ids, std::vector<size_t> & order) const {
    order.clear();
    for (const bool held : {true, false}) {
        for (size_t i = 0; i < ids.size(); ++i) {
            if ((index_.find(layer, ids[i]) >= 0) == held) {
                order.push_back(i);
            }
        }
    }
}

int expert_cache::max_acquire(int layer) const {
    int pinned = 0;
    for (int s = 0; s < index_.n_slots(layer); ++s) {
        pinned += index_.slot(layer, s).pinned ? 1 : 0;
    }
    return std::max(1, index_.n_slots(layer) - pinned);
}

void expert_cache::release_all() {
    index_.release_all();
}

int expert_cache::claim(int layer, int32_t expert, bool prefetch) {
    const eviction ev = index_.claim(layer, expert, prefetch);
    if (ev.slot < 0) {
        return -1;
    }
    if (ev.wasted) {
        layer_stream_stats & st = stats_.layers[layer];
        ++st.wasted_reads;
        st.wasted_bytes += bytes_of(layer, ev.shadow);
    }
    if (ev.loading) {
        reads_.abandon_read(layer, ev.slot);
    }
    return ev.slot;
}

bool expert_cache::from_shadow(bool prefetch) const {
    switch (shadow_) {
        case shadow_policy::NONE:
            return false;
        case shadow_policy::COLD:
            return !prefetch;
        case shadow_policy::SPECULATIVE:
            return prefetch;
        case shadow_policy::ALL:
            return true;
    }
    return false;
}

read_start expert_cache::start(int layer, int slot, int32_t expert, bool prefetch, bool shadow) {
    const read_start r = reads_.start_read(layer, slot, expert, prefetch, shadow);
    if (r == read_start::REFUSED) {
        return r;
    }
    cache_slot & s          = index_.slot(layer, slot);
    s.shadow                = shadow;
    s.status                = r == read_start::DONE ? slot_status::READY : slot_status::LOADING;
    layer_stream_stats & st = stats_.layers[layer];
    ++st.reads;
    st.prefetches += prefetch ? 1 : 0;
    st.shadow_reads += shadow ? 1 : 0;
    st.bytes_read += bytes_of(layer, shadow);
    return r;
}

void expert_cache::finish(int layer, int slot) {
    if (index_.slot(layer, slot).status != slot_status::LOADING) {
        return;
    }
    try {
        reads_.wait_read(layer, slot);
    } catch (...) {
        // The slot's bytes are not the expert's: forget it so a later pass reads again.
        index_.forget(layer, slot);
        throw;
    }
    index_.slot(layer, slot).status = slot_status::READY;
}

void expert_cache::predict(int layer, std::span<const int32_t> guess) {
    // Best first: keep what fits.
    const size_t n = std::min(guess.size(), static_cast<size_t>(index_.n_slots(layer)));
    kept_.assign(guess.begin(), guess.begin() + static_cast<std::ptrdiff_t>(n));
    foreseen_[layer] = 1;
    index_.set_predicted(layer, kept_);
    stats_.layers[layer].predicted += kept_.size();
    prefetch(layer, kept_);
}

void expert_cache::prefetch(int layer, std::span<const int32_t> ids) {
    for (int32_t e : ids) {
        if (index_.find(layer, e) >= 0) {
            continue;
        }
        const int slot = claim(layer, e, true);
        if (slot < 0) {
            break;  // nothing more may go for a guess
        }
        if (start(layer, slot, e, true, from_shadow(true)) == read_start::REFUSED) {
            index_.forget(layer, slot);  // no staging free: the guess waits for another pass
            break;
        }
    }
}

void expert_cache::acquire(int layer, std::span<const int32_t> ids, std::span<int> slots, bool one_token) {
    request(layer, ids, slots, one_token);
    for (const int slot : slots) {
        finish(layer, slot);
    }
}

void expert_cache::request(int layer, std::span<const int32_t> ids, std::span<int> slots, bool one_token) {
    index_.release_all();
    index_.begin_pass(layer, ids, one_token);
    if (static_cast<int>(ids.size()) > max_acquire(layer)) {
        fail("expert cache of layer {} has {} free slots, too few for {} experts at once", layer, max_acquire(layer),
             ids.size());
    }
    layer_stream_stats & st = stats_.layers[layer];
    // Hold what is there first, so that making room for the misses cannot evict it.
    upgrade_.assign(ids.size(), 0);
    for (size_t i = 0; i < ids.size(); ++i) {
        ++st.requests;
        st.predicted_used += index_.predicted(layer, ids[i]) ? 1 : 0;
        st.foreseen += foreseen_[layer];
        slots[i] = index_.find(layer, ids[i]);
        if (slots[i] >= 0) {
            cache_slot & s = index_.slot(layer, slots[i]);
            s.held         = true;
            // A shadow copy that has served its use is read exact now (not under ALL, where
            // the shadow is all there is). A used slot's read has finished.
            upgrade_[i] = s.shadow && s.used && shadow_ != shadow_policy::ALL ? 1 : 0;
            if (upgrade_[i]) {
                continue;
            }
            if (s.status == slot_status::READY) {
                ++st.hits;
            } else {
                ++st.late;
            }
        }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        if (slots[i] >= 0 && !upgrade_[i]) {
            continue;
        }
        ++st.misses;
        if (upgrade_[i]) {
            ++st.upgrades;
        } else {
            slots[i] = claim(layer, ids[i], false);
            if (slots[i] < 0) {
                fail("expert cache of layer {} has {} slots, too few for {} experts at once", layer,
                     index_.n_slots(layer), ids.size());
            }
            index_.slot(layer, slots[i]).held = true;
        }
        const bool shadow = !upgrade_[i] && from_shadow(false);
        if (start(layer, slots[i], ids[i], false, shadow) == read_start::REFUSED) {
            fail("expert cache: no staging buffer for a demand read of layer {}", layer);
        }
    }
    // A use counts when it is asked for: touching a slot whose read still runs changes no
    // decision, since nothing else claims in this layer until the call returns.
    for (size_t i = 0; i < ids.size(); ++i) {
        index_.touch(layer, slots[i]);
        st.shadow_uses += index_.slot(layer, slots[i]).shadow ? 1 : 0;
    }
}

void expert_cache::pin(int layer, int32_t expert) {
    const int slot = claim(layer, expert, false);
    if (slot < 0) {
        fail("expert cache of layer {}: no slot left to pin expert {}", layer, expert);
    }
    if (start(layer, slot, expert, false, shadow_ == shadow_policy::ALL) == read_start::REFUSED) {
        fail("expert cache: no staging buffer to pin expert {} of layer {}", expert, layer);
    }
    finish(layer, slot);
    cache_slot & s = index_.slot(layer, slot);
    s.pinned       = true;
    s.used         = true;  // not a wasted read whatever happens
}

stream_stats expert_cache::stats_counting_residents() const {
    stream_stats s = stats_;
    for (int l = 0; l < index_.n_layer(); ++l) {
        for (int i = 0; i < index_.n_slots(l); ++i) {
            const cache_slot & c = index_.slot(l, i);
            if (c.status != slot_status::EMPTY && !c.used) {
                ++s.layers[l].wasted_reads;
                s.layers[l].wasted_bytes += bytes_of(l, c.shadow);
            }
        }
    }
    return s;
}

}  // namespace sluice
