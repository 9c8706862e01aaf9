// Experts packed ahead of time (`sluice pack-experts`, --packed-experts). Independent
// expectations: the run from the packed file is the run from the model's own experts as the
// file lays them out (--no-repack: no packing anywhere), bit for bit, in RAM and streamed, and
// the streamed cache makes exactly the same reads (same bytes per expert); the packed file
// really is what is read (change its bytes and the logits change); and a file that does not
// fit the run (another ISA, another model, the wrong flag) is refused with a message.
#include "tools/pack_experts.h"

#include "experts/expert_shard.h"
#include "experts/io/loader.h"
#include "gguf/gguf.h"
#include "golden.h"
#include "tools/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

namespace sluice {
namespace {

const std::string trained = std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf";

// n token ids of the trained model's vocabulary, spread over it.
std::vector<int32_t> some_ids(size_t n) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < n; ++i) {
        ids.push_back(static_cast<int32_t>((i * 7919 + 13) % 2000 + 10));
    }
    return ids;
}

std::string temp_path(const std::string & name) {
    return (std::filesystem::temp_directory_path() / ("sluice-" + std::to_string(::getpid()) + "-" + name)).string();
}

// The trained model's experts packed for AVX-512 into a temporary file.
struct packed_file {
    std::string path = temp_path("trained.packed.gguf");
    pack_report report;
    packed_file() {
        thread_pool pool(2);
        report = pack_experts_file(trained, path, isa::AVX512, pool);
    }
    ~packed_file() { std::filesystem::remove(path); }
};

engine_options options(const std::string & budget, const std::string & packed, bool repack = true) {
    engine_options o;
    o.model_path     = trained;
    o.n_threads      = 2;
    o.expert_budget  = budget;
    o.packed_experts = packed;
    o.repack_experts = repack;
    return o;
}

// A prefill in batches of 7, then four tokens one at a time.
std::vector<float> run(engine & e, const std::vector<int32_t> & ids) {
    return test::prefill_then_decode(e, ids, 4, 7, 64);
}

std::string error_of(const engine_options & o) {
    try {
        engine e(o);
    } catch (const error & err) {
        return err.what();
    }
    return "accepted";
}

class pack_experts : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!isa_supported(isa::AVX512)) {
            GTEST_SKIP() << "this CPU has no AVX-512, whose kernels have the packed forms";
        }
    }
};

TEST_F(pack_experts, writes_every_expert_tensor_of_the_same_shape_and_type_rearranged) {
    const packed_file f;
    const gguf_file   in = gguf_file::open(trained), out = gguf_file::open(f.path);
    EXPECT_EQ(f.report.tensors, 24);  // 8 layers x gate, up, down
    ASSERT_EQ(out.tensors().size(), 24u);
    uint64_t bytes = 0;
    for (const gguf_tensor & t : out.tensors()) {
        const gguf_tensor * src = in.find_tensor(t.name);
        ASSERT_NE(src, nullptr) << t.name;
        EXPECT_EQ(t.type, src->type) << t.name;
        EXPECT_EQ(std::vector<int64_t>(t.ne, t.ne + t.n_dims), std::vector<int64_t>(src->ne, src->ne + src->n_dims));
        ASSERT_EQ(t.nbytes, src->nbytes) << t.name;
        EXPECT_NE(std::memcmp(t.data, src->data, t.nbytes), 0) << t.name << " was copied, not packed";
        EXPECT_EQ(out.file_offset(t) % 4096, 0u) << t.name << ": experts start on 4 KiB blocks";
        bytes += t.nbytes;
    }
    EXPECT_EQ(bytes, f.report.bytes);
}

TEST_F(pack_experts, runs_equal_the_models_own_experts_in_ram_and_streamed) {
    const packed_file          f;
    engine                     mapped(options("", "", false));
    const std::vector<int32_t> ids  = some_ids(40);
    const std::vector<float>   want = run(mapped, ids);

    engine in_ram(options("", f.path));
    EXPECT_EQ(in_ram.packed_expert_bytes(), in_ram.net().experts().total_bytes());
    EXPECT_EQ(run(in_ram, ids), want) << "in RAM";

    for (const char * budget : {"30%", "60%"}) {
        engine                   plain(options(budget, ""));
        engine                   packed(options(budget, f.path));
        const std::vector<float> got = run(packed, ids);
        EXPECT_EQ(got, want) << budget;
        EXPECT_EQ(run(plain, ids), want) << budget;
        // The same plan and the same decisions: same slots, reads and bytes.
        const stream_stats a = *plain.streaming_stats(), b = *packed.streaming_stats();
        EXPECT_EQ(a.slots, b.slots) << budget;
        EXPECT_EQ(a.total().reads, b.total().reads) << budget;
        EXPECT_EQ(a.total().bytes_read, b.total().bytes_read) << budget;
        EXPECT_NE(b.cache_type.find("packed"), std::string::npos) << b.cache_type;
    }
}

TEST_F(pack_experts, streamed_experts_packed_in_their_slots_compute_as_the_file_lays_them_out) {
    // No packed file: the streamed cache packs the experts it reads in their slots once its
    // layer uses them 3+ times per read. The run must equal the file's layout bit for bit,
    // with experts really packed (a slot computed in the wrong form gives other logits), and
    // --no-repack packs none.
    engine                     mapped(options("", "", false));
    const std::vector<int32_t> ids  = some_ids(60);
    const std::vector<float>   want = run(mapped, ids);
    for (const char * budget : {"60%", "100%"}) {
        engine packing(options(budget, ""));
        EXPECT_EQ(run(packing, ids), want) << budget;
        const stream_stats s = *packing.streaming_stats();
        EXPECT_GT(s.packed_experts, 0u) << budget;
        EXPECT_NE(s.cache_type.find("packed as read"), std::string::npos) << s.cache_type;
        engine plain(options(budget, "", false));
        EXPECT_EQ(run(plain, ids), want) << budget;
        EXPECT_EQ(plain.streaming_stats()->packed_experts, 0u) << budget;
        EXPECT_EQ(plain.streaming_stats()->cache_type, "as in the file");
    }
}

// A reader whose reads land late, by the count: each read reports itself still in flight to
// its first `polls` questions, then waits for the real read and lands. The streamed cache
// then waits for every read it asks about, and packs while it waits a group or two at a time,
// the same way in every run.
class late_reader final : public async_reader {
  public:
    late_reader(std::unique_ptr<async_reader> inner, int polls) : inner_(std::move(inner)), polls_(polls) {
        direct_ = inner_->direct();
    }
    std::string_view name() const override { return inner_->name(); }
    uint64_t         submit(const read_request & r) override {
        const uint64_t ticket = inner_->submit(r);
        asked_[ticket]        = 0;
        return ticket;
    }
    bool ready(uint64_t ticket) override {
        if (asked_[ticket]++ < polls_) {
            return false;
        }
        land(ticket);
        return true;
    }
    void wait(uint64_t ticket) override {
        land(ticket);
        asked_.erase(ticket);
        if (const auto e = errors_.find(ticket); e != errors_.end()) {
            const std::string message = e->second;
            errors_.erase(e);
            fail("{}", message);
        }
    }

  private:
    void land(uint64_t ticket) {
        if (landed_.insert(ticket).second) {
            try {
                inner_->wait(ticket);
            } catch (const error & e) {
                errors_[ticket] = e.what();
            }
        }
    }
    std::unique_ptr<async_reader>   inner_;
    int                             polls_;
    std::map<uint64_t, int>         asked_;
    std::set<uint64_t>              landed_;
    std::map<uint64_t, std::string> errors_;
};

TEST_F(pack_experts, experts_half_packed_while_waiting_are_finished_before_use_or_dropped_with_their_slot) {
    // Reads that land late keep the cache packing while it waits, a group of 16 rows at a time
    // (48 groups per expert here), so experts are asked for, or evicted, half packed. The run
    // must still equal the file's layout bit for bit: a half-packed expert computed as it lies
    // gives other logits.
    engine                     mapped(options("", "", false));
    const std::vector<int32_t> ids  = some_ids(60);
    const std::vector<float>   want = run(mapped, ids);
    for (const char * budget : {"30%", "60%"}) {
        engine_options o        = options(budget, "");
        o.streaming.wrap_reader = [](std::unique_ptr<async_reader> inner) {
            return std::make_unique<late_reader>(std::move(inner), 3);
        };
        engine late(o);
        EXPECT_EQ(run(late, ids), want) << budget;
        const stream_stats s = *late.streaming_stats();
        EXPECT_GT(s.packed_waiting, 0u) << budget;
        EXPECT_GT(s.packed_waiting_finished, 0u) << budget << ": no expert was asked for half packed";
        EXPECT_GT(s.packed_waiting_dropped, 0u) << budget << ": no slot was taken half packed";
    }
}

TEST_F(pack_experts, a_streamed_run_reads_the_packed_file) {
    // Zero a stretch of layer 3's packed gate experts: the streamed run must then differ from
    // the exact one, so it is the packed file's bytes that it computes with.
    const packed_file f;
    {
        const gguf_file     out = gguf_file::open(f.path);
        const gguf_tensor * t   = out.find_tensor("blk.3.ffn_gate_exps.weight");
        ASSERT_NE(t, nullptr);
        std::fstream io(f.path, std::ios::in | std::ios::out | std::ios::binary);
        io.seekp(static_cast<std::streamoff>(out.file_offset(*t)));
        const std::string zeros(t->nbytes, '\0');
        io.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    }
    engine                     ram(options("", ""));
    const std::vector<int32_t> ids = some_ids(24);
    engine                     packed(options("100%", f.path));
    EXPECT_NE(run(packed, ids), run(ram, ids));
}

TEST_F(pack_experts, a_file_that_does_not_fit_the_run_is_refused) {
    const packed_file f;
    // Another ISA.
    engine_options avx2 = options("30%", f.path);
    avx2.force_isa      = isa::AVX2;
    EXPECT_NE(error_of(avx2).find("packed for avx512, but this run computes on avx2"), std::string::npos)
        << error_of(avx2);
    // Another model: the trained model with its experts in Q4_K, run with the Q8_0 file's packing.
    const std::string other = temp_path("experts-q4_k.gguf");
    {
        thread_pool pool(2);
        quantize_file(trained, other, ggml_type::Q4_K, pool, quantize_scope::EXPERTS);
    }
    engine_options wrong = options("30%", f.path);
    wrong.model_path     = other;
    const std::string e1 = error_of(wrong);
    std::filesystem::remove(other);
    EXPECT_NE(e1.find("packed from another model"), std::string::npos) << e1;
    // The flags that cannot go with it, and the file where a shadow belongs.
    EXPECT_NE(error_of(options("", f.path, false)).find("--no-repack"), std::string::npos);
    engine_options requant       = options("30%", f.path);
    requant.streaming.cache_type = ggml_type::Q4_0;
    EXPECT_NE(error_of(requant).find("--packed-experts and --cache-type"), std::string::npos);
    engine_options as_shadow        = options("30%", "");
    as_shadow.streaming.shadow_path = f.path;
    as_shadow.streaming.shadow      = shadow_policy::ALL;
    EXPECT_NE(error_of(as_shadow).find("a file of packed experts, not a shadow"), std::string::npos)
        << error_of(as_shadow);
    // The model itself is no packed-experts file.
    EXPECT_NE(error_of(options("30%", trained)).find("not a file of packed experts"), std::string::npos);
    // A file of an older packed format (the keys written by hand, version 0).
    const std::string old_format = temp_path("old-format.gguf");
    {
        gguf_writer w;
        w.set_string("sluice.packed_experts.isa", "avx512");
        w.set_u32("sluice.packed_experts.version", 0);
        w.set_u64("sluice.packed_experts.source_hash", model_header_hash(gguf_file::open(trained)));
        w.write(old_format);
    }
    const std::string e2 = error_of(options("30%", old_format));
    std::filesystem::remove(old_format);
    EXPECT_NE(e2.find("packed in format 0, this build reads format 1; pack the experts again"), std::string::npos)
        << e2;
}

TEST(pack_experts_tool, refuses_a_type_without_a_packed_form) {
    thread_pool       pool(2);
    const std::string out = temp_path("f32.packed.gguf");
    try {
        pack_experts_file(std::string(SLUICE_TEST_DATA) + "/tiny-qwen3moe-f32.gguf", out, isa::AVX512, pool);
        FAIL() << "packed F32 experts";
    } catch (const error & err) {
        EXPECT_NE(std::string(err.what()).find("is f32, which has no packed form on avx512"), std::string::npos)
            << err.what();
    }
    EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace sluice
