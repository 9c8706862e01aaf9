// Split models end to end: `quantize --split-max-size` writes the bundled model in 3 parts
// that run bit for bit as the whole file does, in RAM and streamed (each expert read from its
// part at its offset, with both readers); `prune --split-max-size` writes the same model as
// a whole prune; a split model quantized into one file is a whole file again.
#include "corpus.h"
#include "experts/streaming_source.h"
#include "tools/prune.h"
#include "tools/quantize.h"
#include "util/thread_pool.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace sluice {
namespace {

namespace fs = std::filesystem;

// Logits of every position: a prefill in batches of 7, then 5 tokens decoded one at a time.
std::vector<float> logits(engine & e, const std::vector<int32_t> & ids) {
    session_options so;
    so.n_ctx   = 64;
    so.n_batch = 7;
    so.kv_type = ggml_type::F32;
    session            s(e, so);
    const size_t       cut = ids.size() - 5;
    std::vector<float> out = s.eval_all(std::span(ids).first(cut));
    for (size_t i = cut; i < ids.size(); ++i) {
        const int32_t                t[1] = {ids[i]};
        const std::span<const float> l    = s.eval(t);
        out.insert(out.end(), l.begin(), l.end());
    }
    return out;
}

void expect_same_bits(const std::vector<float> & got, const std::vector<float> & want, const std::string & where) {
    ASSERT_EQ(got.size(), want.size()) << where;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << where;
}

engine open_engine(const std::string & path, const std::string & budget = "",
                   reader_kind reader = reader_kind::AUTOMATIC) {
    engine_options o;
    o.model_path            = path;
    o.n_threads             = 2;
    o.expert_budget         = budget;
    o.streaming.reader.kind = reader;
    o.streaming.predictor   = predictor_kind::CROSS_LAYER;
    return engine(o);
}

class split_model : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / fmt::format("sluice-split-model-{}", ::getpid());
        fs::create_directories(dir_);
        thread_pool pool(2);
        // 55 MiB of tensors in parts of at most 21 MB: three parts, the experts of the early
        // blocks in the first, of the last ones in the third.
        report_ = new quantize_report(quantize_file(test::trained_model, (dir_ / "q8.gguf").string(), ggml_type::Q8_0,
                                                    pool, quantize_scope::ALL, 21000000));
    }
    static void TearDownTestSuite() {
        fs::remove_all(dir_);
        delete report_;
        report_ = nullptr;
    }

    static fs::path          dir_;
    static quantize_report * report_;
};

fs::path          split_model::dir_;
quantize_report * split_model::report_ = nullptr;

TEST_F(split_model, quantize_writes_three_parts_named_as_gguf_split_does) {
    ASSERT_EQ(report_->files.size(), 3u);
    for (int p = 0; p < 3; ++p) {
        EXPECT_EQ(report_->files[p], (dir_ / fmt::format("q8-0000{}-of-00003.gguf", p + 1)).string());
        EXPECT_LE(fs::file_size(report_->files[p]), 21000000u + (1u << 20));  // tensors + head
    }
    EXPECT_EQ(report_->tensors_converted, 0);  // Q8_0 to Q8_0: every tensor copied as it is
    const gguf_file f = gguf_file::open(report_->files[0]);
    EXPECT_EQ(f.n_parts(), 3u);
    EXPECT_EQ(*f.get_u32("general.file_type"), 7u);
    // The experts lie in every part, so the streamed runs below read from all three.
    std::vector<int> expert_tensors(3, 0);
    for (const gguf_tensor & t : f.tensors()) {
        expert_tensors[t.part] += std::string_view(t.name).ends_with("_exps.weight") ? 1 : 0;
    }
    for (int p = 0; p < 3; ++p) {
        EXPECT_GT(expert_tensors[p], 0) << "part " << p + 1;
    }
}

TEST_F(split_model, logits_equal_the_whole_file_in_ram_and_streamed) {
    engine                     whole = test::trained_engine();
    const std::vector<int32_t> ids   = test::python_tokens(whole, 40);
    const std::vector<float>   want  = logits(whole, ids);

    engine split = open_engine(report_->files[0]);
    expect_same_bits(logits(split, ids), want, "in RAM");

    const std::string min_budget = std::to_string(streaming_expert_source::minimum_budget(
        whole.net().experts(), static_cast<int>(whole.hparams().n_expert_used)));
    for (const reader_kind r : {reader_kind::AUTOMATIC, reader_kind::PREAD}) {
        for (const std::string & budget : {min_budget, std::string("40%")}) {
            const std::string where =
                fmt::format("streamed, budget {}, {}", budget, r == reader_kind::PREAD ? "pread" : "automatic reader");
            engine e = open_engine(report_->files[0], budget, r);
            expect_same_bits(logits(e, ids), want, where);
            EXPECT_GT(e.streaming_stats()->total().bytes_read, 0u) << where;
        }
    }
}

TEST_F(split_model, a_split_model_quantized_into_one_file_is_whole_again) {
    thread_pool           pool(2);
    const std::string     out = (dir_ / "joined.gguf").string();
    const quantize_report r   = quantize_file(report_->files[0], out, ggml_type::Q8_0, pool);
    EXPECT_EQ(r.files, std::vector<std::string>{out});
    const gguf_file joined = gguf_file::open(out);
    const gguf_file orig   = gguf_file::open(test::trained_model);
    EXPECT_EQ(joined.n_parts(), 1u);
    EXPECT_EQ(joined.find("split.count"), nullptr);
    ASSERT_EQ(joined.tensors().size(), orig.tensors().size());
    for (size_t i = 0; i < orig.tensors().size(); ++i) {
        const gguf_tensor & a = joined.tensors()[i];
        const gguf_tensor & b = orig.tensors()[i];
        ASSERT_EQ(a.name, b.name);
        ASSERT_EQ(a.nbytes, b.nbytes) << a.name;
        EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0) << a.name;
    }
}

TEST_F(split_model, prune_writes_the_same_model_split) {
    engine                     e          = open_engine(report_->files[0]);
    const std::vector<int32_t> ids        = test::python_tokens(e, 40);
    const auto                 kept       = choose_experts(score_experts(e, ids, 64), 20);  // of 32
    const std::string          whole_path = (dir_ / "pruned.gguf").string();
    EXPECT_EQ(write_pruned_model(e.file(), e.hparams(), kept, whole_path), std::vector<std::string>{whole_path});
    const std::vector<std::string> parts =
        write_pruned_model(e.file(), e.hparams(), kept, (dir_ / "pruned-split.gguf").string(), 15000000);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0], (dir_ / "pruned-split-00001-of-00003.gguf").string());

    engine whole = open_engine(whole_path);
    engine split = open_engine(parts[0]);
    EXPECT_EQ(split.hparams().n_expert, 20);
    expect_same_bits(logits(split, ids), logits(whole, ids), "pruned");
}

}  // namespace
}  // namespace sluice
