// The disk side of the streaming bound: how fast this machine reads experts of this model,
// measured the way the cache reads them (O_DIRECT, whole slabs, several in flight).
#pragma once

#include "experts/expert_store.h"
#include "experts/io/loader.h"

#include <string>

namespace sluice {

struct disk_probe {
    double   gb_per_s     = 0;  // 1e9 bytes/s
    double   ms_per_read  = 0;  // one expert alone, no overlap (latency)
    uint64_t bytes        = 0;
    int      experts_read = 0;
};

// Reads `n` pseudo-random experts (seeded, every MoE layer) with `in_flight` at a time,
// then `n_serial` one at a time for the latency, from the store's file (or its parts).
disk_probe probe_expert_reads(const expert_store & store, const reader_options & opt, int n = 64, int in_flight = 8,
                              int n_serial = 8);

}  // namespace sluice
