// Expert parallelism over MPI, run by ctest under `mpirun -np 2` and `-np 3` (every rank runs
// every test; each test makes the same collective calls on every rank). The expectation is
// the single-process run of the same file, itself checked against llama.cpp and float64
// goldens by the model tests: with the experts split across the ranks, every architecture's
// logits, routing and greedy continuation must match it (within 1e-5, the bound for a
// different reduction order; the sums are in double, so they come out equal), and every rank
// must hold the same logits bit for bit.
#include "engine/engine.h"
#include "engine/routing_recorder.h"
#include "experts/streaming_stats.h"
#include "parallel/mpi_expert_parallel.h"
#include "tools/shard.h"
#include "util/error.h"
#include "util/fnv1a.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <numeric>

namespace sluice::test {
namespace {

std::string data_path(const std::string & rel) {
    return std::string(SLUICE_TEST_DATA) + "/" + rel;
}

std::shared_ptr<mpi_session> mpi() {
    // Short: ranks that diverge (a broken exchange) fail the test in seconds, not hang it.
    return std::make_shared<mpi_session>(std::chrono::seconds(20));
}

engine open_engine(const std::string & path) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = 1;  // ranks share this machine's cores
    return engine(o);
}

std::vector<int> experts_per_layer(const engine & e) {
    std::vector<int> n;
    for (const router & r : e.net().routers()) {
        n.push_back(r.routed() ? r.n_expert : 0);
    }
    return n;
}

std::shared_ptr<mpi_expert_parallel> join(engine & e, const expert_partition & p) {
    auto ep = std::make_shared<mpi_expert_parallel>(mpi(), p, identity_of(e.file(), "test"));
    e.set_expert_parallel(ep);
    return ep;
}

struct run_result {
    std::vector<float>                             logits;   // [n][n_vocab]
    std::vector<std::vector<std::vector<int32_t>>> routing;  // [position][layer][k]
    std::vector<int32_t>                           greedy;   // continuation at temperature 0
};

run_result run(engine & e, const std::vector<int32_t> & ids) {
    run_result      r;
    session_options so;
    so.n_ctx   = 64;
    so.kv_type = ggml_type::F32;
    session          s(e, so);
    routing_recorder rec(static_cast<int>(e.hparams().n_layer));
    r.logits  = s.eval_all(ids, &rec);
    r.routing = rec.experts;
    sampler_params sp;
    sp.temperature = 0.0f;
    sampler          greedy(sp);
    generate_options g;
    g.n_predict  = 12;
    g.ignore_eos = true;
    s.generate({}, g, greedy, [&](int32_t id) {
        r.greedy.push_back(id);
        return true;
    });
    return r;
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0.0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
    }
    return worst;
}

// The split run against one process's: logits within the 1e-5 (a different order of
// additions; in double they come out equal), the same routing and greedy continuation.
void expect_same_run(const run_result & got, const run_result & want, const std::string & what) {
    EXPECT_LE(max_abs_diff(got.logits, want.logits), 1e-5) << what;
    EXPECT_EQ(got.routing, want.routing) << what;
    EXPECT_EQ(got.greedy, want.greedy) << what;
}

std::vector<int32_t> ids_for(const engine & e) {
    std::vector<int32_t> ids;
    const int64_t        V = e.hparams().n_vocab;
    for (int i = 0; i < 16; ++i) {
        ids.push_back(static_cast<int32_t>((1 + 37 * i * i + 11 * i) % V));
    }
    return ids;
}

// Every rank's fingerprint of `v` equals rank 0's: the ranks hold the same bits.
bool same_on_every_rank(mpi_expert_parallel & ep, const std::vector<float> & v) {
    fnv1a h;
    h.add(v.data(), v.size() * sizeof(float));
    // A double holds the 64-bit hash's top 52 bits exactly; enough to tell runs apart.
    const std::vector<double> all = ep.all_ranks(static_cast<double>(h.value() >> 12));
    return std::all_of(all.begin(), all.end(), [&](double x) { return x == all[0]; });
}

void expect_equal_to_one_process(const std::string & path, const std::string & balance) {
    engine           alone = open_engine(path);
    const run_result want  = run(alone, ids_for(alone));

    engine                 e     = open_engine(path);
    const std::vector<int> n     = experts_per_layer(e);
    int                    ranks = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    expert_partition p;
    if (balance == "popularity") {
        // Skewed counts (expert e chosen ~1/(e+1) of the time): the greedy split is uneven
        // in expert count per rank but not in load.
        std::vector<std::vector<double>> counts;
        for (int k : n) {
            std::vector<double> c(k);
            for (int x = 0; x < k; ++x) {
                c[x] = 1000.0 / (x + 1);
            }
            counts.push_back(c);
        }
        p = expert_partition::by_popularity(n, counts, ranks);
    } else {
        p = expert_partition::round_robin(n, ranks);
    }
    auto             ep  = join(e, p);
    const run_result got = run(e, ids_for(e));

    expect_same_run(got, want, path);
    EXPECT_TRUE(same_on_every_rank(*ep, got.logits)) << path;
    // Every MoE layer of every pass was combined: the prompt's pass, then each of the 12
    // sampled tokens fed back.
    int moe_layers = 0;
    for (int k : n) {
        moe_layers += k > 0;
    }
    EXPECT_EQ(ep->counters().combines, static_cast<uint64_t>(moe_layers) * (1 + 12));
}

class ep_arch : public ::testing::TestWithParam<std::string> {};

TEST_P(ep_arch, round_robin_matches_one_process) {
    expect_equal_to_one_process(data_path(GetParam()), "round-robin");
}

// `sluice shard`: rank 0 cuts the model into one file per rank; each rank opens its own (which
// holds only its experts) and the results equal one process on the whole file.
TEST_P(ep_arch, shards_match_one_process) {
    const std::string path  = data_path(GetParam());
    engine            alone = open_engine(path);
    const run_result  want  = run(alone, ids_for(alone));
    int               rank = 0, ranks = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const std::string stem = std::filesystem::path(path).stem().string();
    const std::string dir  = ::testing::TempDir() + "sluice-ep-shards-" + std::to_string(ranks);
    if (rank == 0) {
        write_shards(alone.file(), expert_partition::round_robin(experts_per_layer(alone), ranks),
                     static_cast<int>(alone.hparams().n_expert), dir);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    engine_options o;
    o.model_path = shard_path(dir, stem, rank, ranks);
    o.n_threads  = 1;
    o.split      = engine_options::expert_split{rank, ranks, ""};
    engine e(o);
    // The shard holds only this rank's experts: less than the whole file's.
    EXPECT_LT(e.net().experts().total_bytes(), alone.net().experts().total_bytes());
    auto ep = std::make_shared<mpi_expert_parallel>(mpi(), e.partition(), identity_of(e.file(), "test"));
    e.set_expert_parallel(ep);
    const run_result got = run(e, ids_for(e));
    expect_same_run(got, want, path);

    // Another rank's shard is refused, naming both ranks.
    engine_options other = o;
    other.model_path     = shard_path(dir, stem, (rank + 1) % ranks, ranks);
    try {
        engine wrong(other);
        ADD_FAILURE() << "no error";
    } catch (const error & err) {
        EXPECT_NE(std::string(err.what()).find("but this process is rank " + std::to_string(rank)), std::string::npos)
            << err.what();
    }
    MPI_Barrier(MPI_COMM_WORLD);  // every rank done with the files before the next test rewrites them
}

TEST_P(ep_arch, popularity_split_matches_one_process) {
    expect_equal_to_one_process(data_path(GetParam()), "popularity");
}

INSTANTIATE_TEST_SUITE_P(archs, ep_arch,
                         ::testing::Values("tiny-qwen3moe-f32.gguf", "archs/tiny-llama-f32.gguf",
                                           "archs/tiny-olmoe-f32.gguf", "archs/tiny-qwen2moe-f32.gguf",
                                           "archs/tiny-gpt-oss-f32.gguf", "archs/tiny-deepseek2-f32.gguf",
                                           "archs/tiny-qwen3next-f32.gguf"),
                         [](const auto & info) {
                             std::string n = std::filesystem::path(info.param).stem().string();
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

// The trained model (k = 4 of 32 experts, Q8_0): with four experts per token a rank adds
// more than one, so the order of additions differs from one process's.
TEST(ep_trained, matches_one_process) {
    expect_equal_to_one_process(std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf", "round-robin");
}

// Continuous batching: one step for several sequences, experts split across the ranks,
// against each sequence decoded alone by one process.
TEST(ep_batch, decode_batch_matches_one_process) {
    const std::string path  = data_path("archs/tiny-qwen2moe-f32.gguf");
    engine            alone = open_engine(path);
    engine            e     = open_engine(path);
    int               ranks = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    auto                              ep      = join(e, expert_partition::round_robin(experts_per_layer(e), ranks));
    const std::vector<int32_t>        ids     = ids_for(e);
    std::vector<std::vector<int32_t>> prompts = {{ids[0], ids[1], ids[2]}, {ids[3]}, {ids[4], ids[5]}};
    session_options                   so;
    so.n_ctx = 32;
    std::vector<std::unique_ptr<session>> batched, solo;
    for (const auto & p : prompts) {
        batched.push_back(std::make_unique<session>(e, so));
        solo.push_back(std::make_unique<session>(alone, so));
        batched.back()->eval(p);
        solo.back()->eval(p);
    }
    std::vector<session *> group = {batched[0].get(), batched[1].get(), batched[2].get()};
    for (int step = 0; step < 3; ++step) {
        const std::vector<int32_t> toks = {ids[6 + step], ids[9 + step], ids[12 + step]};
        decode_batch(group, toks);
        for (size_t i = 0; i < group.size(); ++i) {
            const int32_t                one[1] = {toks[i]};
            const std::span<const float> want   = solo[i]->eval(one);
            const std::span<const float> got    = group[i]->logits();
            EXPECT_LE(max_abs_diff(got, want), 1e-5) << "step " << step << ", sequence " << i;
        }
    }
}

// --expert-budget under expert parallelism is per rank: a percentage is of the rank's own
// experts, the cache reads, predicts and holds only those (a cross-layer guess of another
// rank's expert would be a wasted read), and the results stay one process's (mapped).
TEST(ep_streaming, each_rank_caches_only_its_experts) {
    const std::string path  = std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf";
    engine            alone = open_engine(path);
    const run_result  want  = run(alone, ids_for(alone));

    int rank = 0, ranks = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    engine_options o;
    o.model_path          = path;
    o.n_threads           = 1;
    o.expert_budget       = "50%";
    o.streaming.predictor = predictor_kind::CROSS_LAYER;
    o.split               = engine_options::expert_split{rank, ranks, ""};
    engine e(o);
    auto   ep = std::make_shared<mpi_expert_parallel>(mpi(), e.partition(), identity_of(e.file(), "test"));
    e.set_expert_parallel(ep);
    const run_result got = run(e, ids_for(e));
    expect_same_run(got, want, path);

    // 32 experts of equal size per layer, round robin: this rank owns ceil or floor of 32/N
    // of each layer, and the budget is half of their bytes.
    const int      owned       = 32 / ranks + (rank < 32 % ranks ? 1 : 0);
    const uint64_t total       = e.net().experts().total_bytes();
    const auto     want_budget = static_cast<double>(total) * owned / 32.0 / 2.0;
    EXPECT_NEAR(static_cast<double>(e.streaming_stats()->budget), want_budget, 1.0);
    int foreign = 0;
    for (int l = 0; l < e.net().experts().n_layer(); ++l) {
        std::vector<uint8_t> held(32);
        e.experts().resident(l, held);
        for (int32_t x = 0; x < 32; ++x) {
            foreign += held[x] != 0 && x % ranks != rank;
        }
    }
    EXPECT_EQ(foreign, 0) << "experts of other ranks in this rank's cache";
    EXPECT_GT(e.streaming_stats()->total().bytes_read, 0u);
}

// Ranks that opened different files, or run different partitions, refuse to start, and
// every rank says which rank differs.
TEST(ep_checks, ranks_with_different_models_refuse_to_start) {
    engine e    = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    int    rank = 0, ranks = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    ep_identity id = identity_of(e.file(), "test");
    if (rank == ranks - 1) {
        id.model_hash ^= 1;  // as if its file's metadata differed
    }
    try {
        mpi_expert_parallel ep(mpi(), expert_partition::round_robin(experts_per_layer(e), ranks), id);
        ADD_FAILURE() << "no error";
    } catch (const error & err) {
        EXPECT_NE(std::string(err.what()).find("rank " + std::to_string(ranks - 1) + " opened a different model"),
                  std::string::npos)
            << err.what();
    }
}

TEST(ep_checks, ranks_with_different_options_refuse_to_start) {
    engine e    = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    int    rank = 0, ranks = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const ep_identity id = identity_of(e.file(), rank == 1 ? "-t 2" : "-t 1");
    EXPECT_THROW(mpi_expert_parallel(mpi(), expert_partition::round_robin(experts_per_layer(e), ranks), id), error);
}

// A rank given another prompt than rank 0 is stopped before its hidden states diverge.
TEST(ep_checks, other_tokens_than_rank_0_are_an_error) {
    engine e    = open_engine(data_path("tiny-qwen3moe-f32.gguf"));
    int    rank = 0, ranks = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    auto                       ep     = join(e, expert_partition::round_robin(experts_per_layer(e), ranks));
    const std::vector<int32_t> tokens = {1, 2, rank == 1 ? 4 : 3};
    if (rank == 1) {
        EXPECT_THROW(ep->check_same_tokens(tokens), error);
    } else {
        EXPECT_NO_THROW(ep->check_same_tokens(tokens));
    }
    // Sampling: whatever each rank drew, every rank continues with rank 0's token.
    EXPECT_EQ(ep->token_of_first_rank(100 + rank), 100);
}

}  // namespace
}  // namespace sluice::test

namespace {

// Ranks other than 0 print only their failures, each line naming the rank and the test.
class failures_only : public ::testing::EmptyTestEventListener {
  public:
    explicit failures_only(int rank) : rank_(rank) {}
    // The name is kept here: asking the UnitTest for it inside OnTestPartResult deadlocks
    // (that call holds the lock current_test_info() takes).
    void OnTestStart(const ::testing::TestInfo & t) override {
        test_ = std::string(t.test_suite_name()) + "." + t.name();
    }
    void OnTestPartResult(const ::testing::TestPartResult & r) override {
        if (r.failed()) {
            std::fprintf(stderr, "rank %d: %s: %s:%d: %s\n", rank_, test_.c_str(),
                         r.file_name() != nullptr ? r.file_name() : "?", r.line_number(), r.summary());
        }
    }

  private:
    int         rank_;
    std::string test_;
};

}  // namespace

// Every rank runs every test; the job fails when a test failed on any rank.
int main(int argc, char ** argv) {
    MPI_Init(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != 0) {  // one full report, rank 0's
        ::testing::TestEventListeners & l = ::testing::UnitTest::GetInstance()->listeners();
        delete l.Release(l.default_result_printer());
        l.Append(new failures_only(rank));
    }
    int failed = RUN_ALL_TESTS();
    int any    = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any;
}
