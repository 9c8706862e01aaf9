#include "experts/streaming_source.h"

#include "tensor/quantize.h"
#include "util/error.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>

namespace sluice {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

uint64_t round_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

// Room for one matrix read with O_DIRECT: the slab rounded to whole blocks, plus one block
// because the slab need not start on a block boundary.
uint64_t span_for(uint64_t nbytes) {
    return round_up(nbytes, direct_io_alignment) + direct_io_alignment;
}

}  // namespace

streaming_expert_source::streaming_expert_source(const std::string & path, const expert_store & store,
                                                 std::span<const router> routers, int n_expert_used, matmul_runner & mm,
                                                 const streaming_options & opt)
    : store_(store), routers_(routers.begin(), routers.end()), k_(n_expert_used), opt_(opt) {
    const int n_layer = store_.n_layer();
    if (static_cast<int>(routers_.size()) != n_layer) {
        fail("{}: the model describes {} routers for {} layers", path, routers_.size(), n_layer);
    }
    if (!opt_.calibration_path.empty()) {
        calib_ = calibration::load(opt_.calibration_path, n_layer, store_.n_expert(), store_.n_embd());
    }
    if (!opt_.trace_path.empty()) {
        trace_ = routing_trace::load(opt_.trace_path);
    }

    // Slot geometry per layer: each matrix gets whole blocks so O_DIRECT can read into it.
    mem_.resize(static_cast<size_t>(n_layer));
    for (int l = 0; l < n_layer; ++l) {
        if (store_.has_experts(l)) {
            mem_[l].gate_span = span_for(store_.slab_gate(l, 0).nbytes);
            mem_[l].up_span   = span_for(store_.slab_up(l, 0).nbytes);
            mem_[l].down_span = span_for(store_.slab_down(l, 0).nbytes);
        }
    }
    std::vector<uint64_t> bytes_per_slot = slot_bytes(store_);
    uint64_t              budget         = opt_.budget;
    if (next_moe_layer(-1) < 0) {
        fail("{}: the model has no routed experts to stream", path);
    }
    if (opt_.cache_type && *opt_.cache_type != store_.slab_gate(next_moe_layer(-1), 0).type) {
        // Slots hold the re-quantized matrices; reads land in staging buffers first, enough
        // for a layer's demand and a layer's guesses in flight, paid from the budget.
        const ggml_type ct = *opt_.cache_type;
        if (!can_quantize(ct)) {
            fail("--cache-type {}: sluice cannot write that type", type_name(ct));
        }
        const int64_t block = traits(ct).block_size;
        if (store_.n_embd() % block != 0 || store_.n_ff() % block != 0) {
            fail("--cache-type {}: expert rows of {} and {} values are not whole blocks of {}", type_name(ct),
                 store_.n_embd(), store_.n_ff(), block);
        }
        convert_to_ = ct;
        for (int l = 0; l < n_layer; ++l) {
            if (store_.has_experts(l)) {
                staging_span_     = std::max(staging_span_, bytes_per_slot[l]);
                bytes_per_slot[l] = 2 * static_cast<uint64_t>(store_.n_ff()) * row_bytes(ct, store_.n_embd()) +
                                    static_cast<uint64_t>(store_.n_embd()) * row_bytes(ct, store_.n_ff());
            }
        }
        const int n_staging = 2 * (k_ + opt_.predict_extra);
        staging_size_       = staging_span_ * static_cast<uint64_t>(n_staging);
        if (budget <= staging_size_) {
            fail(
                "--expert-budget of {} bytes is too small for --cache-type: {} bytes go to reading experts "
                "before they are converted",
                budget, staging_size_);
        }
        budget -= staging_size_;
        void * p = ::mmap(nullptr, staging_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            fail("cannot allocate {} bytes of staging for the expert cache", staging_size_);
        }
        staging_base_ = static_cast<std::byte *>(p);
        for (int i = n_staging - 1; i >= 0; --i) {
            free_staging_.push_back(i);
        }
    }
    plan_ = plan_cache(budget, bytes_per_slot, store_.n_expert(), k_, opt_.quota,
                       calib_ ? calib_->spread() : std::vector<double>{});
    staging_of_.resize(static_cast<size_t>(n_layer));
    for (int l = 0; l < n_layer; ++l) {
        staging_of_[l].assign(static_cast<size_t>(plan_.slots[l]), -1);
    }
    index_.emplace(plan_.slots, store_.n_expert(), opt_.eviction);
    for (int l = 0; l < n_layer; ++l) {
        layer_memory & m = mem_[l];
        m.size           = static_cast<uint64_t>(plan_.slots[l]) * plan_.slot_bytes[l];
        m.tickets.assign(static_cast<size_t>(plan_.slots[l]), {0, 0, 0});
        if (m.size == 0) {
            continue;
        }
        // Anonymous pages: aligned, zero until touched, and returned to the system at once.
        void * p = ::mmap(nullptr, m.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            fail("cannot allocate {} bytes of expert cache for layer {}", m.size, l);
        }
        m.base = static_cast<std::byte *>(p);
    }

    reader_ = open_reader(path, opt_.reader);

    predictor_context pc;
    pc.routers  = routers_;
    pc.mm       = &mm;
    pc.calib    = calib_ ? &*calib_ : nullptr;
    pc.trace    = trace_ ? &*trace_ : nullptr;
    pc.n_expert = store_.n_expert();
    pc.n_embd   = store_.n_embd();
    predictor_  = make_predictor(opt_.predictor, pc);

    stats_.reader      = std::string(reader_->name());
    stats_.direct      = reader_->direct();
    stats_.predictor   = std::string(name_of(opt_.predictor));
    stats_.eviction    = std::string(name_of(opt_.eviction));
    stats_.quota       = std::string(name_of(opt_.quota));
    stats_.budget      = opt_.budget;
    stats_.cache_bytes = plan_.bytes + staging_size_;
    stats_.cache_type  = convert_to_ ? std::string(type_name(*convert_to_)) : std::string("as in the file");
    stats_.slots       = plan_.slots;
    stats_.layers.resize(static_cast<size_t>(n_layer));
    foreseen_.assign(static_cast<size_t>(n_layer), 0);

    // The hottest experts stay: read them now, never evict them.
    if (opt_.pin_hot > 0) {
        if (!calib_) {
            fail("--pin-hot needs a calibration file (--calibration)");
        }
        for (int l = 0; l < n_layer; ++l) {
            const int                  n_pin = std::min(opt_.pin_hot, plan_.slots[l] - k_);
            const std::vector<int32_t> hot   = calib_->by_popularity(l);
            for (int i = 0; i < n_pin; ++i) {
                const eviction ev = index_->claim(l, hot[i], false);
                start_read(l, ev.slot, hot[i], false);
                finish_read(l, ev.slot);
                index_->slot(l, ev.slot).pinned = true;
                index_->slot(l, ev.slot).used   = true;  // not a wasted read whatever happens
            }
        }
    }
}

std::vector<uint64_t> streaming_expert_source::slot_bytes(const expert_store & store) {
    std::vector<uint64_t> out(static_cast<size_t>(store.n_layer()), 0);
    for (int l = 0; l < store.n_layer(); ++l) {
        if (store.has_experts(l)) {
            out[l] = span_for(store.slab_gate(l, 0).nbytes) + span_for(store.slab_up(l, 0).nbytes) +
                     span_for(store.slab_down(l, 0).nbytes);
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

streaming_expert_source::~streaming_expert_source() {
    reader_.reset();  // reaps reads in flight before their buffers go
    if (staging_base_ != nullptr) {
        ::munmap(staging_base_, staging_size_);
    }
    for (layer_memory & m : mem_) {
        if (m.base != nullptr) {
            ::munmap(m.base, m.size);
        }
    }
}

int streaming_expert_source::max_acquire(int layer) const {
    int pinned = 0;
    for (int s = 0; s < index_->n_slots(layer); ++s) {
        pinned += index_->slot(layer, s).pinned ? 1 : 0;
    }
    return std::max(1, index_->n_slots(layer) - pinned);
}

int streaming_expert_source::next_moe_layer(int after) const {
    for (int l = after + 1; l < store_.n_layer(); ++l) {
        if (store_.has_experts(l)) {
            return l;
        }
    }
    return -1;
}

bool streaming_expert_source::start_read(int layer, int slot, int32_t expert, bool prefetch) {
    layer_memory & m    = mem_[layer];
    std::byte *    base = m.base + static_cast<uint64_t>(slot) * plan_.slot_bytes[layer];
    if (convert_to_) {
        while (free_staging_.empty() && !prefetch && !staged_.empty()) {
            const auto [l, sl] = staged_.front();
            const auto t0      = clock_type::now();
            finish_read(l, sl);  // converts it and frees its staging
            stats_.layers[layer].io_wait_ms += ms_since(t0);
        }
        if (free_staging_.empty()) {
            return false;
        }
        const int buf = free_staging_.back();
        free_staging_.pop_back();
        staging_of_[layer][slot] = buf;
        staged_.emplace_back(layer, slot);
        base = staging_base_ + static_cast<uint64_t>(buf) * staging_span_;
    }
    const expert_slab slabs[3]  = {store_.slab_gate(layer, expert), store_.slab_up(layer, expert),
                                   store_.slab_down(layer, expert)};
    const uint64_t    starts[3] = {0, m.gate_span, m.gate_span + m.up_span};
    for (int i = 0; i < 3; ++i) {
        const uint64_t first = slabs[i].file_offset / direct_io_alignment * direct_io_alignment;
        const uint64_t last  = round_up(slabs[i].file_offset + slabs[i].nbytes, direct_io_alignment);
        read_request   r;
        r.offset           = first;
        r.length           = last - first;
        r.required         = slabs[i].file_offset + slabs[i].nbytes - first;
        r.dest             = base + starts[i];
        m.tickets[slot][i] = reader_->submit(r);
    }
    layer_stream_stats & st = stats_.layers[layer];
    ++st.reads;
    st.prefetches += prefetch ? 1 : 0;
    st.bytes_read += store_.expert_bytes(layer);
    return true;
}

void streaming_expert_source::release_staging(int layer, int slot) {
    int & buf = staging_of_[layer][slot];
    if (buf < 0) {
        return;
    }
    free_staging_.push_back(buf);
    buf = -1;
    std::erase(staged_, std::pair<int, int>(layer, slot));
}

void streaming_expert_source::abandon_read(int layer, int slot) {
    for (uint64_t & t : mem_[layer].tickets[slot]) {
        try {
            reader_->wait(t);
        } catch (const error &) {
        }
        t = 0;
    }
    release_staging(layer, slot);
}

// Staging (the file's bytes, as read) -> the slot, row by row through F32.
void streaming_expert_source::convert(int layer, int slot) {
    const layer_memory & m         = mem_[layer];
    const std::byte *    from      = staging_base_ + static_cast<uint64_t>(staging_of_[layer][slot]) * staging_span_;
    std::byte *          to        = m.base + static_cast<uint64_t>(slot) * plan_.slot_bytes[layer];
    const int32_t        expert    = index_->slot(layer, slot).expert;
    const ggml_type      ct        = *convert_to_;
    const expert_slab    slabs[3]  = {store_.slab_gate(layer, expert), store_.slab_up(layer, expert),
                                      store_.slab_down(layer, expert)};
    const uint64_t       starts[3] = {0, m.gate_span, m.gate_span + m.up_span};
    std::vector<float>   row;
    for (int i = 0; i < 3; ++i) {
        const expert_slab & sl  = slabs[i];
        const std::byte *   src = from + starts[i] + sl.file_offset % direct_io_alignment;
        const uint64_t      in = row_bytes(sl.type, sl.cols), out = row_bytes(ct, sl.cols);
        row.resize(static_cast<size_t>(sl.cols));
        for (int64_t r = 0; r < sl.rows; ++r) {
            dequantize_row(sl.type, src + static_cast<uint64_t>(r) * in, row.data(), sl.cols);
            quantize_row(ct, row.data(), to + static_cast<uint64_t>(r) * out, sl.cols);
        }
        to += static_cast<uint64_t>(sl.rows) * out;
    }
}

void streaming_expert_source::finish_read(int layer, int slot) {
    cache_slot & s = index_->slot(layer, slot);
    if (s.status != slot_status::LOADING) {
        return;
    }
    try {
        for (uint64_t & t : mem_[layer].tickets[slot]) {
            reader_->wait(t);
            t = 0;
        }
    } catch (...) {
        // The slot's bytes are not the expert's: forget it so a later pass reads again.
        for (uint64_t & t : mem_[layer].tickets[slot]) {
            try {
                reader_->wait(t);
            } catch (...) {
            }
            t = 0;
        }
        release_staging(layer, slot);
        index_->forget(layer, slot);
        throw;
    }
    if (convert_to_) {
        convert(layer, slot);
        release_staging(layer, slot);
    }
    s.status = slot_status::READY;
}

int streaming_expert_source::claim(int layer, int32_t expert, bool prefetch) {
    const eviction ev = index_->claim(layer, expert, prefetch);
    if (ev.slot < 0) {
        return -1;
    }
    layer_stream_stats & st = stats_.layers[layer];
    if (ev.wasted) {
        ++st.wasted_reads;
        st.wasted_bytes += store_.expert_bytes(layer);
    }
    if (ev.loading) {
        // The evicted expert's read may still be writing into the slot: let it finish. Its
        // outcome does not matter any more, so an error on it is not this pass's error.
        const auto t0 = clock_type::now();
        abandon_read(layer, ev.slot);
        st.io_wait_ms += ms_since(t0);
    }
    return ev.slot;
}

expert_matrices streaming_expert_source::view(int layer, int slot, int32_t expert) const {
    const layer_memory & m    = mem_[layer];
    const std::byte *    base = m.base + static_cast<uint64_t>(slot) * plan_.slot_bytes[layer];
    if (convert_to_) {  // the converted matrices, back to back
        const ggml_type ct = *convert_to_;
        const int64_t   d = store_.n_embd(), ff = store_.n_ff();
        const auto *    p = reinterpret_cast<const uint8_t *>(base);
        const uint64_t  g = static_cast<uint64_t>(ff) * row_bytes(ct, d);
        return expert_matrices{weight_matrix{ct, ff, d, row_bytes(ct, d), p},
                               weight_matrix{ct, ff, d, row_bytes(ct, d), p + g},
                               weight_matrix{ct, d, ff, row_bytes(ct, ff), p + 2 * g}};
    }
    const auto mat = [&](const expert_slab & s, uint64_t start) {
        const uint64_t skew = s.file_offset % direct_io_alignment;
        return weight_matrix{s.type, s.rows, s.cols, row_bytes(s.type, s.cols),
                             reinterpret_cast<const uint8_t *>(base + start + skew)};
    };
    return expert_matrices{mat(store_.slab_gate(layer, expert), 0), mat(store_.slab_up(layer, expert), m.gate_span),
                           mat(store_.slab_down(layer, expert), m.gate_span + m.up_span)};
}

void streaming_expert_source::acquire(int layer, std::span<const int32_t> ids, std::span<expert_matrices> out) {
    index_->release_all();
    if (static_cast<int>(ids.size()) > max_acquire(layer)) {
        fail("expert cache of layer {} has {} free slots, too few for {} experts at once", layer, max_acquire(layer),
             ids.size());
    }
    layer_stream_stats & st = stats_.layers[layer];
    std::vector<int>     slots(ids.size(), -1);
    // Hold what is there first, so that making room for the misses cannot evict it.
    for (size_t i = 0; i < ids.size(); ++i) {
        ++st.requests;
        st.predicted_used += index_->predicted(layer, ids[i]) ? 1 : 0;
        st.foreseen += foreseen_[layer] ? 1 : 0;
        const int s = index_->find(layer, ids[i]);
        if (s >= 0) {
            slots[i]                    = s;
            index_->slot(layer, s).held = true;
            if (index_->slot(layer, s).status == slot_status::READY) {
                ++st.hits;
            } else {
                ++st.late;
            }
        }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        if (slots[i] < 0) {
            ++st.misses;
            slots[i] = claim(layer, ids[i], false);
            if (slots[i] < 0) {
                fail("expert cache of layer {} has {} slots, too few for {} experts at once", layer,
                     index_->n_slots(layer), ids.size());
            }
            index_->slot(layer, slots[i]).held = true;
            if (!start_read(layer, slots[i], ids[i], false)) {
                fail("expert cache: no staging buffer for a demand read of layer {}", layer);
            }
        }
    }
    const auto t0 = clock_type::now();
    for (size_t i = 0; i < ids.size(); ++i) {
        finish_read(layer, slots[i]);
        index_->touch(layer, slots[i]);
        out[i] = view(layer, slots[i], ids[i]);
    }
    st.io_wait_ms += ms_since(t0);
    if (predictor_) {
        predictor_->observe(layer, ids);
    }
}

void streaming_expert_source::on_ffn_input(int layer, const float * x, int64_t n) {
    index_->release_all();
    if (layer == 0) {
        stats_.tokens += n;
    }
    const int64_t pos0 = pos_;
    if (layer == store_.n_layer() - 1) {
        pos_ += n;  // the pass is ending: the next one starts at the following position
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
        predictor_->predict(layer, x, n, pos0, target, k_ + opt_.predict_extra, scratch_);
        stats_.predict_ms += ms_since(t0);

        foreseen_[target] = 1;
        const int room    = index_->n_slots(target);
        if (static_cast<int>(scratch_.size()) > room) {
            scratch_.resize(static_cast<size_t>(room));  // best first: keep what fits
        }
        index_->set_predicted(target, scratch_);
        stats_.layers[target].predicted += scratch_.size();
        for (int32_t e : scratch_) {
            if (index_->find(target, e) >= 0) {
                continue;
            }
            const int slot = claim(target, e, true);
            if (slot < 0) {
                break;  // nothing more may go for a guess
            }
            if (!start_read(target, slot, e, true)) {
                index_->forget(target, slot);  // no staging free: the guess waits for another pass
                break;
            }
        }
    }
}

void streaming_expert_source::prefetch(int layer, std::span<const int32_t> ids) {
    for (int32_t e : ids) {
        if (index_->find(layer, e) >= 0) {
            continue;
        }
        const int slot = claim(layer, e, true);
        if (slot < 0) {
            break;
        }
        if (!start_read(layer, slot, e, true)) {
            index_->forget(layer, slot);
            break;
        }
    }
}

stream_stats streaming_expert_source::stats() const {
    stream_stats s = stats_;
    for (int l = 0; l < index_->n_layer(); ++l) {
        for (int i = 0; i < index_->n_slots(l); ++i) {
            const cache_slot & c = index_->slot(l, i);
            if (c.status != slot_status::EMPTY && !c.used) {
                ++s.layers[l].wasted_reads;
                s.layers[l].wasted_bytes += store_.expert_bytes(l);
            }
        }
    }
    return s;
}

}  // namespace sluice
