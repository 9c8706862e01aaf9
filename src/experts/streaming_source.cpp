#include "experts/streaming_source.h"

#include "experts/cache/slot_layout.h"
#include "experts/packed_file.h"
#include "kernels/kernels.h"
#include "util/error.h"
#include "util/memory_stats.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace sluice {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// An expert's matrices in read order: 0 gate, 1 up, 2 down.
const weight_matrix & nth_matrix(const expert_matrices & m, int i) {
    return i == 0 ? m.gate : i == 1 ? m.up : m.down;
}

}  // namespace

streaming_expert_source::streaming_expert_source(const std::vector<std::string> & paths, const expert_store & store,
                                                 std::span<const router> routers, int n_expert_used, matmul_runner & mm,
                                                 const streaming_options & opt)
    : store_(store), routers_(routers.begin(), routers.end()), k_(n_expert_used), opt_(opt), mm_(mm) {
    const size_t n_parts = store_.part_paths().size();
    if (paths.size() != n_parts) {
        fail("{}: the model lies in {} files but the expert reader was given {}", paths.empty() ? "?" : paths[0],
             n_parts, paths.size());
    }
    const std::string & path = paths[0];
    if (static_cast<int>(routers_.size()) != store_.n_layer()) {
        fail("{}: the model describes {} routers for {} layers", path, routers_.size(), store_.n_layer());
    }
    if (needs_future(opt_.eviction)) {
        fail("cache policy '{}' evicts by the future, which only a trace knows: use it in `sluice simulate`",
             name_of(opt_.eviction));
    }
    load_side_files(mm.target());
    const cache_plan p = plan_slots(path);
    allocate(p);
    plan_packing();
    std::vector<std::string> files = packed_file_ ? packed_file_->part_paths() : paths;
    if (shadow_file_) {
        shadow_part_ = static_cast<uint32_t>(files.size());
        for (const std::string & part : shadow_file_->part_paths()) {
            files.push_back(part);
        }
    }
    reader_ = open_reader(files, opt_.reader);
    if (opt_.wrap_reader) {
        reader_ = opt_.wrap_reader(std::move(reader_));
    }
    predictor_ = make_predictor(opt_.predictor, predictor_inputs(mm));
    describe(p);
    pin_hot();
}

streaming_expert_source::~streaming_expert_source() {
    reader_.reset();  // reaps reads in flight before their buffers go
}

void streaming_expert_source::load_side_files(isa target) {
    if (!opt_.calibration_path.empty()) {
        calib_ = calibration::load(opt_.calibration_path, store_.n_layer(), store_.n_expert(), store_.n_embd());
    }
    if (!opt_.trace_path.empty()) {
        trace_ = routing_trace::load(opt_.trace_path);
    }
    if (opt_.shadow_path.empty() && opt_.shadow != shadow_policy::NONE) {
        fail("shadow policy {} needs a shadow file (--shadow)", name_of(opt_.shadow));
    }
    if (!opt_.shadow_path.empty() && opt_.shadow == shadow_policy::NONE) {
        fail("{}: a shadow file needs a shadow policy other than none", opt_.shadow_path);
    }
    if (!opt_.shadow_path.empty()) {
        if (opt_.cache_type) {
            fail("--shadow and --cache-type both choose what the cache holds; use one");
        }
        shadow_file_.emplace(gguf_file::open(opt_.shadow_path));
        if (is_packed_file(*shadow_file_)) {
            fail("{}: a file of packed experts, not a shadow; give it with --packed-experts", opt_.shadow_path);
        }
        shadow_store_.emplace(store_.in_other_file(*shadow_file_));
    }
    if (!opt_.packed_path.empty()) {
        if (opt_.cache_type) {
            fail("--packed-experts and --cache-type both choose what the cache holds; use one");
        }
        packed_file_.emplace(gguf_file::open(opt_.packed_path));
        packed_store_.emplace(packed_store_of(store_, *packed_file_, target));
    }
}

cache_plan streaming_expert_source::plan_slots(const std::string & path) {
    const int first = next_moe_layer(-1);
    if (first < 0) {
        fail("{}: the model has no routed experts to stream", path);
    }
    std::vector<uint64_t> bytes_per_slot =
        slot_bytes(exact_store(), shadow_store_ ? &*shadow_store_ : nullptr, opt_.shadow);
    uint64_t budget = opt_.budget;
    if (opt_.cache_type && *opt_.cache_type != store_.slab_gate(first, 0).type) {
        // Enough staging for a layer's demand and a layer's guesses in flight, paid from the budget.
        staging_.emplace(*opt_.cache_type, store_, 2 * (k_ + opt_.predict_extra), budget);
        budget -= staging_->bytes();
        for (int l = 0; l < store_.n_layer(); ++l) {
            if (store_.has_experts(l)) {
                bytes_per_slot[l] = staging_->slot_bytes();
            }
        }
    }
    // Under expert parallelism a layer never needs more slots than the experts this rank owns.
    const int owned = owned_per_layer();
    return plan_cache(budget, bytes_per_slot, owned, std::min(k_, owned), opt_.quota,
                      calib_ ? calib_->spread() : std::vector<double>{});
}

void streaming_expert_source::allocate(const cache_plan & p) {
    // The slots (and --cache-type's staging) are faulted in now: a budget this process cannot
    // have is an error here, before any of it is touched, not an out-of-memory kill later.
    const uint64_t available = available_memory_bytes();
    const uint64_t needed    = p.bytes + (staging_ ? staging_->bytes() : 0);
    if (needed > available) {
        fail(
            "--expert-budget: the expert cache needs {:.1f} MiB but this process can have {:.1f} MiB more (available "
            "memory, within any memory cgroup's limit); lower the budget",
            static_cast<double>(needed) / 1048576.0, static_cast<double>(available) / 1048576.0);
    }
    if (staging_) {
        staging_->allocate();
    }
    memory_ = slot_memory(p);
    tickets_.resize(p.slots.size());
    for (size_t l = 0; l < p.slots.size(); ++l) {
        tickets_[l].assign(static_cast<size_t>(p.slots[l]), {0, 0, 0});
    }
    cache_.emplace(p.slots, store_.n_expert(), opt_.eviction, store_.expert_bytes_per_layer(),
                   static_cast<cache_reads &>(*this), opt_.shadow,
                   shadow_store_ ? shadow_store_->expert_bytes_per_layer() : std::vector<uint64_t>{});
}

predictor_context streaming_expert_source::predictor_inputs(matmul_runner & mm) const {
    predictor_context pc;
    pc.routers  = routers_;
    pc.mm       = &mm;
    pc.calib    = calib_ ? &*calib_ : nullptr;
    pc.trace    = trace_ ? &*trace_ : nullptr;
    pc.n_expert = store_.n_expert();
    pc.n_embd   = store_.n_embd();
    return pc;
}

void streaming_expert_source::describe(const cache_plan & p) {
    stream_stats & st = cache_->stats();
    st.reader         = std::string(reader_->name());
    st.direct         = reader_->direct();
    st.predictor      = std::string(name_of(opt_.predictor));
    st.eviction       = std::string(name_of(opt_.eviction));
    st.quota          = std::string(name_of(opt_.quota));
    st.budget         = opt_.budget;
    st.cache_bytes    = p.bytes + (staging_ ? staging_->bytes() : 0);
    st.cache_type     = staging_ ? std::string(type_name(staging_->type())) : std::string("as in the file");
    if (packed_file_) {
        st.cache_type = fmt::format("packed ({})", opt_.packed_path);
    } else if (std::ranges::any_of(pack_layer_, [](char c) { return c != 0; })) {
        st.cache_type = fmt::format(
            "as in the file, packed as read where they are used {}+ times per read, and while waiting for reads",
            k_pack_uses_per_read);
    }
    if (shadow_store_) {
        const int first = next_moe_layer(-1);
        st.shadow       = fmt::format("{} ({} experts from {})", name_of(opt_.shadow),
                                      type_name(shadow_store_->slab_gate(first, 0).type), opt_.shadow_path);
    }
}

// The hottest experts stay: read them now, never evict them.
void streaming_expert_source::pin_hot() {
    if (opt_.pin_hot <= 0) {
        return;
    }
    if (!calib_) {
        fail("--pin-hot needs a calibration file (--calibration)");
    }
    // A layer's pinned experts must leave the k slots one token needs; asking for more is
    // an error rather than a silently smaller number.
    for (int l = 0; l < store_.n_layer(); ++l) {
        if (!store_.has_experts(l)) {
            continue;
        }
        const int most = cache_->index().n_slots(l) - k_;
        if (opt_.pin_hot > most) {
            fail(
                "--pin-hot {}: layer {}'s cache has {} slots and a token needs {} of them free, so at most {} "
                "experts can be pinned there (raise --expert-budget or pin fewer)",
                opt_.pin_hot, l, cache_->index().n_slots(l), k_, std::max(most, 0));
        }
    }
    for (int l = 0; l < store_.n_layer(); ++l) {
        if (!store_.has_experts(l)) {
            continue;
        }
        int pinned = 0;
        for (int32_t e : calib_->by_popularity(l)) {
            if (pinned == opt_.pin_hot) {
                break;
            }
            if (owns(l, e)) {  // another rank pins its own
                cache_->pin(l, e);
                ++pinned;
            }
        }
    }
}

std::vector<uint64_t> streaming_expert_source::slot_bytes(const expert_store & store, const expert_store * shadow,
                                                          shadow_policy policy) {
    std::vector<uint64_t> out(static_cast<size_t>(store.n_layer()), 0);
    for (int l = 0; l < store.n_layer(); ++l) {
        out[l] = layout_of(store, l).bytes();
        if (shadow != nullptr && policy != shadow_policy::NONE) {
            const uint64_t small = layout_of(*shadow, l).bytes();
            out[l]               = policy == shadow_policy::ALL ? small : std::max(out[l], small);
        }
    }
    return out;
}

uint64_t streaming_expert_source::minimum_budget(const expert_store & store, int n_expert_used) {
    uint64_t total = 0;
    for (uint64_t b : slot_bytes(store)) {
        total += b * static_cast<uint64_t>(n_expert_used);
    }
    return total;
}

int streaming_expert_source::owned_per_layer() const {
    if (opt_.partition.empty()) {
        return store_.n_expert();
    }
    int most = 0;
    for (int l = 0; l < store_.n_layer(); ++l) {
        if (store_.has_experts(l)) {
            most = std::max(most, static_cast<int>(opt_.partition.owned(l, opt_.rank).size()));
        }
    }
    return most;
}

int streaming_expert_source::next_moe_layer(int after) const {
    for (int l = after + 1; l < store_.n_layer(); ++l) {
        if (store_.has_experts(l)) {
            return l;
        }
    }
    return -1;
}

read_start streaming_expert_source::start_read(int layer, int slot, int32_t expert, bool prefetch, bool shadow) {
    std::byte * dest = memory_.slot(layer, slot);
    if (staging_) {
        dest = staging_->take(layer, slot);
        // A demand read cannot go without: finish older loads (converting them) until a
        // buffer is free. A guess gives up.
        while (dest == nullptr && !prefetch) {
            const auto oldest = staging_->oldest();
            if (!oldest) {
                break;
            }
            cache_->finish(oldest->first, oldest->second);
            dest = staging_->take(layer, slot);
        }
        if (dest == nullptr) {
            return read_start::REFUSED;
        }
    }
    if (packing_while_waiting(layer, slot)) {
        idle_ = {};  // evicted half packed: the new read overwrites it
        ++cache_->stats().packed_waiting_dropped;
    }
    slot_packed_[layer][slot]         = packing_pays(layer, shadow);
    idle_exhausted_                   = false;  // a new unpacked expert, once it lands
    std::array<read_request, 3> reads = slot_reads(shadow ? *shadow_store_ : exact_store(), layer, expert, dest);
    for (int i = 0; i < 3; ++i) {
        reads[i].file += shadow ? shadow_part_ : 0;
        tickets_[layer][slot][i] = reader_->submit(reads[i]);
    }
    return read_start::PENDING;
}

void streaming_expert_source::wait_read(int layer, int slot) {
    const auto t0 = clock_type::now();
    if (!read_done(layer, slot)) {
        // A read still in flight takes a few hundred microseconds: the pool's workers would
        // spin through it on the other cores. Idle, they leave those cores to the machine.
        // Padded Q4_K, 2 threads, 7 alternating rounds: 1.09x decode at 50% load on demand,
        // 1.09x with the oracle at 25%, 0.98x (noise) on demand at 25%.
        mm_.pool().rest();
        pack_while_waiting(layer, slot);
    }
    try {
        for (uint64_t & t : tickets_[layer][slot]) {
            reader_->wait(t);
            t = 0;
        }
    } catch (...) {
        drain(layer, slot);
        throw;
    }
    if (staging_) {
        staging_->convert(layer, slot, cache_->index().slot(layer, slot).expert, memory_.slot(layer, slot));
        staging_->release(layer, slot);
    }
    cache_->stats().layers[layer].io_wait_ms += ms_since(t0);
    if (slot_packed_[layer][slot] != 0) {
        pack_slot(layer, slot);
    }
}

void streaming_expert_source::pack_while_waiting(int layer, int slot) {
    if (!opt_.pack_on_read || idle_exhausted_) {
        return;
    }
    const auto t0 = clock_type::now();
    while (!read_done(layer, slot) && pack_one_group_while_waiting(layer)) {
    }
    cache_->stats().pack_waiting_ms += ms_since(t0);
}

bool streaming_expert_source::choose_idle_pack(int layer) {
    // The layers after this one compute first; this one's slots nobody holds, next token.
    const int n_layer  = store_.n_layer();
    bool      inflight = false;  // an unpacked read still landing: a candidate later
    for (int step = 1; step <= n_layer; ++step) {
        const int l = (layer + step) % n_layer;
        if (pack_layer_[l] == 0) {
            continue;
        }
        for (int s = 0; s < cache_->index().n_slots(l); ++s) {
            const cache_slot & c = cache_->index().slot(l, s);
            if (c.held || c.shadow || c.status == slot_status::EMPTY || slot_packed_[l][s] != 0) {
                continue;
            }
            if (c.status == slot_status::LOADING) {
                // A guess that has landed: done with its read, it may be packed before its use.
                if (!read_done(l, s)) {
                    inflight = true;
                    continue;
                }
                try {
                    cache_->finish(l, s);
                } catch (const error &) {
                    continue;  // forgotten: read again when asked for, and its error told then
                }
                if (slot_packed_[l][s] != 0) {
                    continue;  // packed as it landed
                }
            }
            idle_ = {l, s, 0, 0, slot_view(store_, l, c.expert, memory_.slot(l, s))};
            return true;
        }
    }
    idle_exhausted_ = !inflight;
    return false;
}

bool streaming_expert_source::pack_one_group_while_waiting(int layer) {
    if (idle_.layer < 0 && !choose_idle_pack(layer)) {
        return false;
    }
    const weight_matrix & w = nth_matrix(idle_.mats, idle_.matrix);
    pack_group(w, idle_.group, 0);  // the waiting thread is the pool's thread 0
    if (++idle_.group == w.rows / k_packed_group_rows) {
        idle_.group = 0;
        if (++idle_.matrix == 3) {
            slot_packed_[idle_.layer][idle_.slot] = 1;
            ++cache_->stats().packed_experts;
            ++cache_->stats().packed_waiting;
            idle_ = {};
        }
    }
    return true;
}

void streaming_expert_source::finish_idle_pack(int layer, int slot) {
    if (!packing_while_waiting(layer, slot)) {
        return;
    }
    ++cache_->stats().packed_waiting_finished;
    while (packing_while_waiting(layer, slot)) {
        pack_one_group_while_waiting(layer);
    }
}

void streaming_expert_source::pack_held(int layer, int slot) {
    if (slot_packed_[layer][slot] == 0 && !cache_->loading(layer, slot) &&
        packing_pays(layer, cache_->index().slot(layer, slot).shadow)) {
        slot_packed_[layer][slot] = 1;
        pack_slot(layer, slot);
    }
}

// Packing a read costs about 1.2 uses of the expert in the file's layout and makes each use
// after it about 0.45 of one cheaper (kernel lab, Q4_K 768 x 2048 from memory, one thread:
// packing in place 62-68 us, one token's product 53-57 us plain, 29-33 us packed), so it pays
// from about 2.6 uses per read; k_pack_uses_per_read (3) leaves a margin. The layer's
// requests per read so far are that count (1 / (1 - hit rate)); it starts at 1, so a cold
// cache packs nothing until hits show, and then the experts it holds unpacked are packed as
// they are used again (pack_held): the hottest came in first. Measured on the padded model
// with load on demand (packing 72-77 us then): packing every read decoded 0.93x the file's
// layout at 25% (2.3 uses per read) and 1.16x at 50% (6).
bool streaming_expert_source::packing_pays(int layer, bool shadow) const {
    if (shadow || pack_layer_[layer] == 0) {
        return false;
    }
    const layer_stream_stats & l = cache_->stats().layers[layer];
    return l.requests >= k_pack_uses_per_read * (l.reads + 1);
}

void streaming_expert_source::plan_packing() {
    pack_layer_.assign(static_cast<size_t>(store_.n_layer()), 0);
    slot_packed_.assign(static_cast<size_t>(store_.n_layer()), {});
    for (int l = 0; l < store_.n_layer(); ++l) {
        slot_packed_[l].assign(tickets_[l].size(), 0);
    }
    // A re-quantized cache holds another type, a packed file's experts come packed.
    if (!opt_.pack_on_read || staging_ || packed_store_ || opt_.shadow == shadow_policy::ALL) {
        return;
    }
    const isa  target   = mm_.target();
    const auto packable = [&](const expert_slab & s) {
        // Whole groups of 16 rows: the packed form of a last partial group would be larger.
        return can_pack(s.type, target) && s.rows % k_packed_group_rows == 0;
    };
    uint64_t most_row_bytes = 0;
    for (int l = 0; l < store_.n_layer(); ++l) {
        if (!store_.has_experts(l)) {
            continue;
        }
        const expert_slab m[3] = {store_.slab_gate(l, 0), store_.slab_up(l, 0), store_.slab_down(l, 0)};
        if (std::ranges::all_of(m, packable)) {
            pack_layer_[l] = 1;
            for (const expert_slab & s : m) {
                most_row_bytes = std::max(most_row_bytes, row_bytes(s.type, s.cols));
            }
        }
    }
    pack_scratch_.resize(static_cast<size_t>(mm_.pool().size()));
    for (thread_scratch & t : pack_scratch_) {
        t.get(most_row_bytes * k_packed_group_rows);
    }
}

void streaming_expert_source::pack_slot(int layer, int slot) {
    const expert_matrices m =
        slot_view(store_, layer, cache_->index().slot(layer, slot).expert, memory_.slot(layer, slot));
    // Each thread packs one run of whole groups of each matrix: the kernel fetches a run's
    // next group while it packs one.
    const int  n_threads = mm_.pool().size();
    const auto t0        = clock_type::now();
    mm_.pool().parallel_for(3 * n_threads, [&](int64_t task, int thread) {
        const weight_matrix & w      = nth_matrix(m, static_cast<int>(task / n_threads));
        const int64_t         groups = w.rows / k_packed_group_rows;
        const int64_t         part   = task % n_threads;
        for (int64_t g = groups * part / n_threads; g < groups * (part + 1) / n_threads; ++g) {
            pack_group(w, g, thread);
        }
    });
    cache_->stats().pack_ms += ms_since(t0);
    ++cache_->stats().packed_experts;
}

void streaming_expert_source::pack_group(const weight_matrix & w, int64_t group, int thread) {
    uint8_t * const scratch = pack_scratch_[static_cast<size_t>(thread)].get(w.row_stride * k_packed_group_rows);
    // The slot is this source's memory: the view is const only for the kernels.
    auto * rows = const_cast<uint8_t *>(w.data) + static_cast<uint64_t>(group * k_packed_group_rows) * w.row_stride;
    pack_group_in_place(w.type, mm_.target(), w.cols, rows, scratch);
}

void streaming_expert_source::abandon_read(int layer, int slot) {
    const auto t0 = clock_type::now();
    drain(layer, slot);
    cache_->stats().layers[layer].io_wait_ms += ms_since(t0);
}

void streaming_expert_source::drain(int layer, int slot) {
    for (uint64_t & t : tickets_[layer][slot]) {
        try {
            reader_->wait(t);
        } catch (...) {
        }
        t = 0;
    }
    if (staging_) {
        staging_->release(layer, slot);
    }
}

void streaming_expert_source::request(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out,
                                      bool one_token) {
    slots_.resize(ids.size());
    cache_->request(layer, ids, slots_, one_token);
    for (size_t i = 0; i < ids.size(); ++i) {
        finish_idle_pack(layer, slots_[i]);
        pack_held(layer, slots_[i]);
        const std::byte * base   = memory_.slot(layer, slots_[i]);
        const bool        shadow = cache_->index().slot(layer, slots_[i]).shadow;
        out[i]                   = staging_ ? staging_->view(base)
                                            : slot_view(shadow ? *shadow_store_ : exact_store(), layer, ids[i], base,
                                      !shadow && exact_packed(layer, slots_[i]));
    }
    if (predictor_) {
        predictor_->observe(layer, ids);
    }
}

bool streaming_expert_source::read_done(int layer, int slot) {
    return std::ranges::all_of(tickets_[layer][slot], [&](uint64_t t) { return t == 0 || reader_->ready(t); });
}

bool streaming_expert_source::may_read_ahead(int layer, size_t next) const {
    // Under --cache-type a guess needs a staging buffer, which a read holds until it is waited
    // for: reading ahead only once every read is in keeps the decisions those of acquire().
    if (staging_) {
        return next == waiting_.size();
    }
    return std::none_of(waiting_.begin() + static_cast<std::ptrdiff_t>(next), waiting_.end(), [&](size_t i) {
        return cache_->loading(layer, slots_[i]) && !cache_->index().slot(layer, slots_[i]).prefetch;
    });
}

void streaming_expert_source::yield_as_read(int layer, std::span<const size_t> which,
                                            std::span<const expert_matrices> mats, std::span<const int32_t> next_turn,
                                            const group_fn & fn) {
    // First the experts in memory already, while the others' reads run; then, in the order
    // asked, each expert still being read together with those after it that landed meanwhile.
    waiting_.clear();
    group_which_.clear();
    group_mats_.clear();
    for (size_t i = 0; i < which.size(); ++i) {
        if (cache_->loading(layer, slots_[i])) {
            waiting_.push_back(i);
        } else {
            group_which_.push_back(which[i]);
            group_mats_.push_back(mats[i]);
        }
    }
    // Reading ahead (later layers' guesses, this layer's next turn) waits until this turn's
    // demand reads are done, so it never shares the disk with a miss the forward pass needs.
    bool   read_ahead = false;
    size_t next       = 0;  // waiting_[next..]: not yielded yet
    while (true) {
        if (!read_ahead && may_read_ahead(layer, next)) {
            issue_guesses();
            prefetch(layer, next_turn);
            read_ahead = true;
        }
        if (!group_mats_.empty()) {
            fn(group_which_, group_mats_);
        }
        if (next == waiting_.size()) {
            break;
        }
        group_which_.clear();
        group_mats_.clear();
        for (size_t j = next; j < waiting_.size(); ++j) {
            const size_t i = waiting_[j];
            if (j > next && !read_done(layer, slots_[i])) {
                break;
            }
            cache_->finish(layer, slots_[i]);  // blocks for waiting_[next] only
            group_which_.push_back(which[i]);
            group_mats_.push_back(mats[i]);
        }
        next += group_mats_.size();
    }
}

void streaming_expert_source::for_each_expert(int layer, std::span<const int32_t> ids, const group_fn & fn) {
    // The experts already held first (expert_cache::held_first).
    cache_->held_first(layer, ids, order_);
    ordered_.resize(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
        ordered_[i] = ids[order_[i]];
    }
    // When they do not fit, half the slots compute while the other half is being read.
    size_t turn = std::max(1, max_acquire(layer));
    if (ids.size() > turn) {
        turn = std::max<size_t>(1, turn / 2);
    }
    const std::span<const int32_t> in_order(ordered_);
    const bool                     one_token = pass_tokens_ == 1 && ids.size() <= turn;
    for (size_t i = 0; i < ids.size(); i += turn) {
        const size_t count = std::min(turn, ids.size() - i);
        turn_.resize(count);
        request(layer, in_order.subspan(i, count), turn_, one_token);
        const std::span<const int32_t> next_turn = in_order.subspan(i + count, std::min(turn, ids.size() - i - count));
        yield_as_read(layer, std::span<const size_t>(order_).subspan(i, count), turn_, next_turn, fn);
    }
}

void streaming_expert_source::resident(int layer, std::span<uint8_t> out) const {
    for (size_t e = 0; e < out.size(); ++e) {
        out[e] = cache_->index().find(layer, static_cast<int32_t>(e)) >= 0 ? 1 : 0;
    }
}

void streaming_expert_source::on_ffn_input(int layer, const float * x, std::span<const int64_t> positions) {
    cache_->release_all();
    pass_tokens_ = positions.size();
    issue_guesses();  // a block that asked for no expert (a dense one) left its guesses unread
    stream_stats & st = cache_->stats();
    if (layer == 0) {
        st.tokens += positions.size();
    }
    if (!predictor_) {
        return;
    }
    int target = layer;
    for (int depth = 0; depth < opt_.predict_depth; ++depth) {
        target = next_moe_layer(target);
        if (target < 0) {
            break;
        }
        const auto t0 = clock_type::now();
        scratch_.clear();
        predictor_->predict(layer, x, positions, target, k_ + opt_.predict_extra, scratch_);
        // Another rank reads its own experts: a guess of one here would be a wasted read.
        std::erase_if(scratch_, [&](int32_t e) { return !owns(target, e); });
        st.predict_ms += ms_since(t0);
        pending_guesses_.emplace_back(target, scratch_);
    }
}

void streaming_expert_source::issue_guesses() {
    for (const auto & [target, guess] : pending_guesses_) {
        cache_->predict(target, guess);
    }
    pending_guesses_.clear();
}

void streaming_expert_source::prefetch(int layer, std::span<const int32_t> ids) {
    cache_->prefetch(layer, ids);
}

}  // namespace sluice
