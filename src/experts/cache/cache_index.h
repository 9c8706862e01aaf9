// The bookkeeping of the expert cache, without memory or IO: which expert of a layer sits
// in which slot, what is loading, what the forward pass holds, and which slot to give up
// next. The streaming source drives it with real reads; `sluice simulate` drives it with a
// trace, so both use the same policies.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// Which cached expert of a layer makes room for a new one.
enum class eviction_policy {
    LRU,         // least recently used
    LFU,         // least often used over the whole run (ties: least recently)
    PREDICTIVE,  // least recently used among those the predictor did not ask for
    OPT,         // Belady's: the one whose next use is farthest (needs the future: simulate only)
    DECAY,       // the lowest use count decayed by age (half-life k_decay_half_life passes of the layer)
    MARKOV,      // DECAY's count plus the chance that the next pass uses the expert (markov_chance)
    NEXT_TOKEN,  // knows which experts the next token uses and spares them, then DECAY (simulate only)
};

// MARKOV's worth of a cached expert: heat + k_decay_half_life x P(the next pass uses it), the
// probability from a Markov model of routing learned during the run: how often each expert
// followed each expert of the pass before (noisy-or over the experts of this pass, smoothed
// towards the expert's share of all passes). DECAY alone forgets that routing moves in
// patterns: on the trained model's traces of 5 texts (2048 tokens each, uniform quotas) MARKOV
// reads 1.3-6.0% fewer experts at 25% and 2.3-7.8% at 50%, 14-85% of what knowing the next
// token's experts for certain saves (NEXT_TOKEN).

// Whether the policy decides by the trace's future, which only `sluice simulate` knows.
bool needs_future(eviction_policy p);

// DECAY's half-life in forward passes of a layer (tokens, in decode). On the trained model's
// Python trace (2048 tokens, uniform quotas) 16 to 64 read the fewest experts at 25% and 50%
// (4: +3% and +13% more; 1024: +2% and +6%).
inline constexpr double k_decay_half_life = 32.0;

eviction_policy  parse_eviction_policy(std::string_view name);  // throws listing the names
std::string_view name_of(eviction_policy p);

enum class slot_status : uint8_t { EMPTY, LOADING, READY };

struct cache_slot {
    int32_t     expert   = -1;
    slot_status status   = slot_status::EMPTY;
    bool        held     = false;  // in use by the forward pass until it moves on
    bool        pinned   = false;  // never evicted (the hottest experts, when asked)
    bool        used     = false;  // used since it was loaded (else its read was wasted)
    bool        prefetch = false;  // loaded on a prediction rather than on demand
    bool        shadow   = false;  // holds the shadow file's copy (shadow_policy.h), not the exact one
    uint64_t    last_use = 0;
};

struct eviction {
    int     slot    = -1;     // -1: no slot can be given up now
    int32_t evicted = -1;     // the expert that was there, or -1 for an empty slot
    bool    wasted  = false;  // it was loaded and never used
    bool    loading = false;  // its read may still be running: wait for it before reusing the slot
    bool    shadow  = false;  // it was the shadow file's copy
};

class cache_index {
  public:
    cache_index(std::vector<int> slots_per_layer, int n_expert, eviction_policy policy);

    int             n_layer() const { return static_cast<int>(slots_.size()); }
    int             n_slots(int layer) const { return static_cast<int>(slots_[layer].size()); }
    int             n_expert() const { return n_expert_; }
    eviction_policy policy() const { return policy_; }

    // The slot holding (or loading) the expert, or -1.
    int                find(int layer, int32_t expert) const { return where_[layer][expert]; }
    cache_slot &       slot(int layer, int s) { return slots_[layer][s]; }
    const cache_slot & slot(int layer, int s) const { return slots_[layer][s]; }

    // Gives a slot to `expert` (not cached): an empty slot if there is one, else the policy's
    // victim among slots that are neither held nor pinned, whether their read has finished
    // or not (so the choice does not depend on IO timing). A prefetch never evicts an expert
    // the predictor asked for. The slot is marked loading.
    eviction claim(int layer, int32_t expert, bool prefetch);

    // Records a use of the slot's expert (for LRU/LFU/DECAY) and marks it used.
    void touch(int layer, int s);

    // A forward pass of `layer` begins that uses experts `ids` (DECAY's clock). MARKOV learns
    // which experts followed the previous pass's when both were `one_token` passes: all the
    // experts of this layer for one token. A batch's union, or a turn of it, says nothing about
    // what one token does after another.
    void begin_pass(int layer, std::span<const int32_t> ids, bool one_token);
    // DECAY's score of an expert now: its uses, each weighted 2^(-age / half-life).
    double heat(int layer, int32_t expert) const;
    // MARKOV: the chance that the pass after the current one uses `expert` (0 to 1).
    double markov_chance(int layer, int32_t expert) const;

    // Experts the predictor expects `layer` to use next; replaces the previous set.
    void set_predicted(int layer, const std::vector<int32_t> & experts);
    bool predicted(int layer, int32_t expert) const { return predicted_[layer][expert] != 0; }

    // OPT, NEXT_TOKEN: when `expert` of `layer` is next used (a trace position; never:
    // UINT64_MAX), and the position being replayed.
    void set_next_use(int layer, int32_t expert, uint64_t when) { next_use_[layer][expert] = when; }
    void set_now(uint64_t when) { now_ = when; }

    // Empties a slot whose read failed.
    void forget(int layer, int s);

    // Ends the forward pass's hold on every slot.
    void release_all();

  private:
    std::vector<std::vector<cache_slot>> slots_;
    std::vector<std::vector<int>>        where_;      // [layer][expert] -> slot or -1
    std::vector<std::vector<uint64_t>>   uses_;       // [layer][expert] -> uses over the run (LFU)
    std::vector<std::vector<uint8_t>>    predicted_;  // [layer][expert]
    std::vector<std::vector<uint64_t>>   next_use_;   // [layer][expert] (OPT)
    std::vector<std::vector<double>>     heat_;       // [layer][expert] (DECAY), as of heat_at_
    std::vector<std::vector<uint64_t>>   heat_at_;    // [layer][expert]: the pass heat_ was last brought to
    std::vector<uint64_t>                passes_;     // [layer]
    // MARKOV: [layer][a * n_expert + b]: passes using b right after a pass using a; [layer][a]:
    // passes right after one using a; [layer]: the experts of the current pass, and whether it is
    // one token's.
    std::vector<std::vector<float>>   followed_by_;
    std::vector<std::vector<float>>   followed_;
    std::vector<std::vector<int32_t>> pass_;
    std::vector<uint8_t>              pass_one_token_;
    int                               n_expert_;
    eviction_policy                   policy_;
    uint64_t                          clock_ = 0;
    uint64_t                          now_   = 0;
};

}  // namespace sluice
