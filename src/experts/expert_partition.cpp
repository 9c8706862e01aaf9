#include "experts/expert_parallel.h"
#include "util/error.h"
#include "util/fnv1a.h"

#include <algorithm>
#include <numeric>

namespace sluice {

namespace {

void check_ranks(int ranks) {
    if (ranks < 1) {
        fail("expert parallelism needs at least one rank, not {}", ranks);
    }
}

}  // namespace

expert_partition expert_partition::round_robin(std::span<const int> experts_per_layer, int ranks) {
    check_ranks(ranks);
    expert_partition p;
    p.ranks_  = ranks;
    p.scheme_ = "round-robin";
    for (int n : experts_per_layer) {
        std::vector<int> row(static_cast<size_t>(std::max(n, 0)));
        for (int e = 0; e < n; ++e) {
            row[e] = e % ranks;
        }
        p.owner_.push_back(std::move(row));
    }
    return p;
}

expert_partition expert_partition::by_popularity(std::span<const int>                     experts_per_layer,
                                                 const std::vector<std::vector<double>> & counts, int ranks) {
    expert_partition p = round_robin(experts_per_layer, ranks);
    p.scheme_          = "popularity";
    for (size_t l = 0; l < p.owner_.size() && l < counts.size(); ++l) {
        const int n = experts_per_layer[l];
        if (n == 0 || counts[l].size() != static_cast<size_t>(n)) {
            continue;  // a dense block, or no counts for it: round robin
        }
        std::vector<int32_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        // Most popular first; equal counts by id, so every rank computes the same table.
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return counts[l][a] > counts[l][b]; });
        std::vector<double> load(ranks, 0.0);
        std::vector<int>    held(ranks, 0);
        // Each rank holds at most ceil(n / ranks) experts, so memory stays balanced too.
        const int cap = (n + ranks - 1) / ranks;
        for (int32_t e : order) {
            int best = -1;
            for (int r = 0; r < ranks; ++r) {
                if (held[r] < cap && (best < 0 || load[r] < load[best])) {
                    best = r;
                }
            }
            p.owner_[l][e] = best;
            load[best] += counts[l][e];
            ++held[best];
        }
    }
    return p;
}

expert_partition expert_partition::from_owners(std::vector<std::vector<int>> owner, int ranks, std::string scheme) {
    check_ranks(ranks);
    for (const std::vector<int> & row : owner) {
        for (int r : row) {
            if (r < 0 || r >= ranks) {
                fail("expert partition: an expert is owned by rank {} of {}", r, ranks);
            }
        }
    }
    expert_partition p;
    p.ranks_  = ranks;
    p.scheme_ = std::move(scheme);
    p.owner_  = std::move(owner);
    return p;
}

std::vector<int32_t> expert_partition::owned(int layer, int rank) const {
    std::vector<int32_t> out;
    for (size_t e = 0; e < owner_[layer].size(); ++e) {
        if (owner_[layer][e] == rank) {
            out.push_back(static_cast<int32_t>(e));
        }
    }
    return out;
}

uint64_t expert_partition::fingerprint() const {
    fnv1a h;
    h.add_u64(static_cast<uint64_t>(ranks_));
    for (const std::vector<int> & row : owner_) {
        h.add_u64(row.size());
        for (int r : row) {
            h.add_u64(static_cast<uint64_t>(r));
        }
    }
    return h.value();
}

}  // namespace sluice
