#include "tools/kl_divergence.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>

namespace sluice {
namespace {

int64_t argmax(const float * v, int64_t n) {
    return std::max_element(v, v + n) - v;
}

}  // namespace

void log_softmax(const float * logits, int64_t n_vocab, float * out) {
    const float max_l = *std::max_element(logits, logits + n_vocab);
    double      sum   = 0.0;
    for (int64_t v = 0; v < n_vocab; ++v) {
        sum += std::exp(static_cast<double>(logits[v]) - max_l);
    }
    const double log_sum = std::log(sum);
    for (int64_t v = 0; v < n_vocab; ++v) {
        out[v] = static_cast<float>(static_cast<double>(logits[v]) - max_l - log_sum);
    }
}

void save_kl_base(const std::string & path, std::span<const int32_t> tokens, int64_t n_ctx, int64_t n_vocab,
                  std::span<const float> log_probs) {
    gguf_writer w;
    w.set_string("general.type", "sluice.kl-base");
    w.set_u64("kl_base.n_ctx", static_cast<uint64_t>(n_ctx));
    w.set_array_i32("kl_base.tokens", std::vector<int32_t>(tokens.begin(), tokens.end()));
    const auto n_scored = static_cast<int64_t>(log_probs.size()) / n_vocab;
    w.add_tensor("log_probs", ggml_type::F32, {n_vocab, n_scored}, log_probs.data(), log_probs.size_bytes());
    w.write(path);
}

kl_base::kl_base(const std::string & path, std::span<const int32_t> tokens, int64_t n_ctx, int64_t n_vocab)
    : file_(gguf_file::open(path)) {
    if (file_.get_string("general.type") != std::optional<std::string_view>("sluice.kl-base")) {
        fail("--kl-base: '{}' is not a KL base file (make one with `sluice perplexity --kl-base FILE`)", path);
    }
    if (file_.get_u64("kl_base.n_ctx") != std::optional<uint64_t>(static_cast<uint64_t>(n_ctx))) {
        fail("--kl-base: '{}' was made with another -c (chunk size) than {}", path, n_ctx);
    }
    const gguf_value * toks = file_.get_array("kl_base.tokens");
    bool same = toks != nullptr && toks->type == gguf_value_type::ARRAY && toks->elem_type == gguf_value_type::INT32 &&
                toks->count == tokens.size();
    for (size_t i = 0; same && i < tokens.size(); ++i) {
        same = toks->array_i64(i) == tokens[i];
    }
    if (!same) {
        fail("--kl-base: '{}' was made over another text (or tokenizer): its tokens differ", path);
    }
    const gguf_tensor & t = file_.require_tensor("log_probs");
    if (t.type != ggml_type::F32 || t.ne[0] != n_vocab) {
        fail("--kl-base: '{}' has log-probabilities over {} tokens, the model {}", path, t.ne[0], n_vocab);
    }
    data_     = reinterpret_cast<const float *>(t.data);
    n_vocab_  = n_vocab;
    n_scored_ = t.ne[1];
}

void kl_stats::add(const float * base, const float * run, int64_t n_vocab, int32_t target) {
    double kl = 0.0;
    for (int64_t v = 0; v < n_vocab; ++v) {
        kl += std::exp(static_cast<double>(base[v])) * (static_cast<double>(base[v]) - run[v]);
    }
    kl_.push_back(std::max(kl, 0.0));  // >= 0 in exact arithmetic
    base_nll_ -= base[target];
    nll_ -= run[target];
    same_top_ += argmax(base, n_vocab) == argmax(run, n_vocab) ? 1 : 0;
}

double kl_stats::base_ppl() const {
    return kl_.empty() ? 0.0 : std::exp(base_nll_ / static_cast<double>(kl_.size()));
}

double kl_stats::ppl() const {
    return kl_.empty() ? 0.0 : std::exp(nll_ / static_cast<double>(kl_.size()));
}

double kl_stats::mean_kl() const {
    double s = 0.0;
    for (double k : kl_) {
        s += k;
    }
    return kl_.empty() ? 0.0 : s / static_cast<double>(kl_.size());
}

double kl_stats::p99_kl() const {
    if (kl_.empty()) {
        return 0.0;
    }
    std::vector<double> sorted = kl_;
    const size_t at = std::min(sorted.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(sorted.size())));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(at), sorted.end());
    return sorted[at];
}

double kl_stats::top1_agree() const {
    return kl_.empty() ? 0.0 : static_cast<double>(same_top_) / static_cast<double>(kl_.size());
}

}  // namespace sluice
