// What the streaming cache counts, per MoE layer, for --stats and the benchmarks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct layer_stream_stats {
    uint64_t requests       = 0;  // experts the router chose (one per expert per forward pass)
    uint64_t hits           = 0;  // ready in the cache when asked for
    uint64_t late           = 0;  // prefetched but still being read when asked for
    uint64_t misses         = 0;  // read on demand
    uint64_t predicted      = 0;  // experts the predictor named for this layer
    uint64_t predicted_used = 0;  // ... that the router then chose
    uint64_t foreseen       = 0;  // requests for which a prediction had been made (recall's base)
    uint64_t reads          = 0;  // experts read (demand + prefetch)
    uint64_t prefetches     = 0;  // ... of which on a prediction
    uint64_t bytes_read     = 0;
    uint64_t wasted_reads   = 0;  // read and evicted (or still resident) without ever being used
    uint64_t wasted_bytes   = 0;
    uint64_t shadow_reads   = 0;  // reads of the shadow file (counted in reads and bytes_read too)
    uint64_t shadow_uses    = 0;  // requests served by a shadow copy: the lossy ones
    uint64_t upgrades       = 0;  // shadow copies asked for again and read exact (counted in misses)
    double   io_wait_ms     = 0;  // time the forward pass waited for this layer's reads

    double hit_rate() const { return requests ? double(hits) / double(requests) : 0.0; }
    double recall() const { return foreseen ? double(predicted_used) / double(foreseen) : 0.0; }
    double precision() const { return predicted ? double(predicted_used) / double(predicted) : 0.0; }
};

struct stream_stats {
    std::string reader;          // "io_uring" or "pread"
    bool        direct = false;  // O_DIRECT
    std::string predictor, eviction, quota;
    std::string cache_type;                // "as in the file" or the re-quantized type
    std::string shadow          = "none";  // the shadow policy and type
    uint64_t    budget          = 0;
    uint64_t    cache_bytes     = 0;  // slot (and staging) memory actually allocated
    int64_t     tokens          = 0;  // rows the forward pass ran
    double      predict_ms      = 0;  // time spent predicting
    double      pack_ms         = 0;  // time spent packing experts as their reads landed or were used
    uint64_t    packed_experts  = 0;  // experts packed in their slots (streaming_options::pack_on_read)
    double      pack_waiting_ms = 0;  // time spent packing while waiting for reads (in io_wait_ms too)
    uint64_t    packed_waiting  = 0;  // ... and the experts so packed (in packed_experts too)
    // Of those: the ones asked for half packed (finished before use), and the experts whose
    // slot was taken half packed (the packing thrown away, not counted above).
    uint64_t                        packed_waiting_finished = 0;
    uint64_t                        packed_waiting_dropped  = 0;
    std::vector<int>                slots;   // per layer
    std::vector<layer_stream_stats> layers;  // per block (dense blocks stay zero)

    layer_stream_stats total() const;
};

// A table for --stats: one row per MoE layer and a total.
std::string format_stream_stats(const stream_stats & s);
// The same as JSON, for --stats-json.
std::string stream_stats_json(const stream_stats & s);

}  // namespace sluice
