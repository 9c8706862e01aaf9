#include "experts/io/disk_probe.h"

#include "experts/page_block.h"

#include <chrono>
#include <deque>
#include <random>
#include <vector>

namespace sluice {

disk_probe probe_expert_reads(const expert_store & store, const reader_options & opt, int n, int in_flight,
                              int n_serial) {
    std::vector<int> layers;
    for (int l = 0; l < store.n_layer(); ++l) {
        if (store.has_experts(l)) {
            layers.push_back(l);
        }
    }
    disk_probe out;
    if (layers.empty()) {
        return out;
    }
    auto     reader = open_reader(store.part_paths(), opt);
    uint64_t span   = 0;  // largest aligned slab
    for (int l : layers) {
        for (const expert_slab & s : {store.slab_gate(l, 0), store.slab_up(l, 0), store.slab_down(l, 0)}) {
            span = std::max(span, (s.nbytes / direct_io_alignment + 2) * direct_io_alignment);
        }
    }
    // Memory of the kind the cache's slots are (huge pages where the system gives them), since
    // on a VM that changes how fast a read lands.
    const int        slots = 3 * std::max(1, in_flight);
    const page_block buf(span * static_cast<uint64_t>(slots), "the disk probe's buffers", true);
    std::mt19937     rng(1234);
    const auto       read_expert = [&](int slot0, std::vector<uint64_t> & tickets) {
        const int l = layers[rng() % layers.size()];
        const int e = static_cast<int>(rng() % static_cast<unsigned>(store.n_expert()));
        int       i = 0;
        for (const expert_slab & s : {store.slab_gate(l, e), store.slab_up(l, e), store.slab_down(l, e)}) {
            read_request r;
            r.file   = s.part;
            r.offset = s.file_offset / direct_io_alignment * direct_io_alignment;
            r.length =
                (s.file_offset + s.nbytes + direct_io_alignment - 1) / direct_io_alignment * direct_io_alignment -
                r.offset;
            r.required = s.file_offset + s.nbytes - r.offset;
            r.dest     = buf.data() + span * static_cast<uint64_t>(slot0 + i++);
            tickets.push_back(reader->submit(r));
            out.bytes += s.nbytes;
        }
    };
    using clk = std::chrono::steady_clock;
    // Throughput: keep `in_flight` experts in flight.
    const auto                        t0 = clk::now();
    std::deque<std::vector<uint64_t>> queue;
    for (int i = 0; i < n; ++i) {
        if (static_cast<int>(queue.size()) == in_flight) {
            for (uint64_t t : queue.front()) {
                reader->wait(t);
            }
            queue.pop_front();
        }
        std::vector<uint64_t> tickets;
        read_expert(3 * (i % in_flight), tickets);
        queue.push_back(std::move(tickets));
    }
    for (auto & q : queue) {
        for (uint64_t t : q) {
            reader->wait(t);
        }
    }
    const double secs = std::chrono::duration<double>(clk::now() - t0).count();
    out.gb_per_s      = static_cast<double>(out.bytes) / secs / 1e9;
    out.experts_read  = n;
    // Latency: one at a time.
    const auto t1 = clk::now();
    for (int i = 0; i < n_serial; ++i) {
        std::vector<uint64_t> tickets;
        read_expert(0, tickets);
        for (uint64_t t : tickets) {
            reader->wait(t);
        }
    }
    out.ms_per_read = std::chrono::duration<double, std::milli>(clk::now() - t1).count() / std::max(1, n_serial);
    return out;
}

}  // namespace sluice
