#include "parallel/mpi_expert_parallel.h"

#include "experts/expert_shard.h"
#include "util/error.h"
#include "util/fnv1a.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <climits>

namespace sluice {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ep_identity identity_of(const gguf_file & file, std::string_view options) {
    ep_identity id;
    // Shards differ from rank to rank; the model they were cut from must not.
    if (const std::optional<expert_shard> shard = read_expert_shard(file)) {
        id.model_bytes = shard->source_bytes;
        id.model_hash  = shard->source_hash;
    } else {
        id.model_bytes = file.total_size();
        id.model_hash  = model_header_hash(file);
    }
    fnv1a o;
    o.add(options.data(), options.size());
    id.options_hash = o.value();
    return id;
}

mpi_expert_parallel::mpi_expert_parallel(std::shared_ptr<mpi_session> mpi, expert_partition partition,
                                         const ep_identity & id)
    : mpi_(std::move(mpi)), partition_(std::move(partition)) {
    if (partition_.ranks() != mpi_->ranks()) {
        fail("the expert partition is for {} ranks but {} run", partition_.ranks(), mpi_->ranks());
    }
    constexpr int           fields = 5;
    std::array<uint64_t, 5> mine   = {static_cast<uint64_t>(mpi_->ranks()), id.model_bytes, id.model_hash,
                                      id.options_hash, partition_.fingerprint()};
    std::vector<uint64_t>   all(static_cast<size_t>(fields) * mpi_->ranks());
    MPI_Request             req = MPI_REQUEST_NULL;
    mpi_->check(MPI_Iallgather(mine.data(), fields, MPI_UINT64_T, all.data(), fields, MPI_UINT64_T, mpi_->comm(), &req),
                "comparing the ranks' models and options");
    mpi_->wait(req, "comparing the ranks' models and options");
    for (int r = 1; r < mpi_->ranks(); ++r) {
        const uint64_t * theirs = all.data() + static_cast<size_t>(r) * fields;
        if (theirs[1] != all[1] || theirs[2] != all[2]) {
            fail(
                "rank {} opened a different model than rank 0 ({} bytes, header hash {:016x} against {} bytes, "
                "{:016x}): every rank needs the same file",
                r, theirs[1], theirs[2], all[1], all[2]);
        }
        if (theirs[3] != all[3]) {
            fail("rank {} was started with other options than rank 0: start every rank with the same command line", r);
        }
        if (theirs[4] != all[4]) {
            fail("rank {} computed another expert partition than rank 0 (different --ep-balance or calibration)", r);
        }
    }
}

void mpi_expert_parallel::combine(std::span<double> sums) {
    const auto   t0    = std::chrono::steady_clock::now();
    const size_t count = sums.size();
    if (count > static_cast<size_t>(INT_MAX)) {
        fail("expert parallelism: a block of {} sums is too large for one exchange (use a smaller -b)", count);
    }
    const auto n = static_cast<size_t>(mpi_->ranks());
    gathered_.resize(count * n);
    MPI_Request req = MPI_REQUEST_NULL;
    mpi_->check(MPI_Iallgather(sums.data(), static_cast<int>(count), MPI_DOUBLE, gathered_.data(),
                               static_cast<int>(count), MPI_DOUBLE, mpi_->comm(), &req),
                "exchanging a MoE block's expert sums");
    mpi_->wait(req, "exchanging a MoE block's expert sums");
    // Rank order, the same on every rank: 0 + 1 + 2 + ...
    std::copy(gathered_.begin(), gathered_.begin() + static_cast<ptrdiff_t>(count), sums.begin());
    for (size_t r = 1; r < n; ++r) {
        const double * p = gathered_.data() + r * count;
        for (size_t c = 0; c < count; ++c) {
            sums[c] += p[c];
        }
    }
    ++counters_.combines;
    counters_.values_sent += count;
    counters_.combine_seconds += seconds_since(t0);
}

int32_t mpi_expert_parallel::token_of_first_rank(int32_t token) {
    const auto  t0  = std::chrono::steady_clock::now();
    MPI_Request req = MPI_REQUEST_NULL;
    mpi_->check(MPI_Ibcast(&token, 1, MPI_INT32_T, 0, mpi_->comm(), &req), "taking rank 0's sampled token");
    mpi_->wait(req, "taking rank 0's sampled token");
    counters_.broadcast_seconds += seconds_since(t0);
    return token;
}

void mpi_expert_parallel::check_same_tokens(std::span<const int32_t> tokens) {
    const auto t0 = std::chrono::steady_clock::now();
    fnv1a      h;
    h.add(tokens.data(), tokens.size_bytes());
    const std::array<uint64_t, 2> mine  = {tokens.size(), h.value()};
    std::array<uint64_t, 2>       first = mine;
    MPI_Request                   req   = MPI_REQUEST_NULL;
    mpi_->check(MPI_Ibcast(first.data(), 2, MPI_UINT64_T, 0, mpi_->comm(), &req), "comparing the ranks' input tokens");
    mpi_->wait(req, "comparing the ranks' input tokens");
    counters_.broadcast_seconds += seconds_since(t0);
    if (first != mine) {
        fail(
            "rank {} was given other input than rank 0 ({} tokens against {}): every rank needs the same prompt "
            "and text files",
            mpi_->rank(), mine[0], first[0]);
    }
}

std::vector<double> mpi_expert_parallel::all_ranks(double value) {
    std::vector<double> all(static_cast<size_t>(mpi_->ranks()));
    MPI_Request         req = MPI_REQUEST_NULL;
    mpi_->check(MPI_Iallgather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, mpi_->comm(), &req),
                "gathering the ranks' counters");
    mpi_->wait(req, "gathering the ranks' counters");
    return all;
}

void mpi_expert_parallel::broadcast_message(std::vector<int32_t> & msg) {
    int64_t     n   = static_cast<int64_t>(msg.size());
    MPI_Request req = MPI_REQUEST_NULL;
    mpi_->check(MPI_Ibcast(&n, 1, MPI_INT64_T, 0, mpi_->comm(), &req), "waiting for rank 0's next step");
    mpi_->wait(req, "waiting for rank 0's next step", true);
    if (n < 0 || n > (int64_t{1} << 30)) {
        fail("rank 0 sent a step of {} values", n);
    }
    msg.resize(static_cast<size_t>(n));
    mpi_->check(MPI_Ibcast(msg.data(), static_cast<int>(n), MPI_INT32_T, 0, mpi_->comm(), &req),
                "receiving rank 0's next step");
    mpi_->wait(req, "receiving rank 0's next step");
}

}  // namespace sluice
