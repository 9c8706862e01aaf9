// What a lossy knob costs, measured against the exact model (llama.cpp's
// --kl-divergence-base idea): a perplexity run saves the log-probabilities of every scored
// position to a "KL base" file; a later run over the same text with routing controls, a
// pruned model or a re-quantized cache compares its own against them: perplexity, the KL
// divergence KL(base || run) per position (mean and 99th percentile) and how often the two
// agree on the most likely token.
#pragma once

#include "gguf/gguf.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice {

// log softmax(logits) in double, written as floats: n_vocab values.
void log_softmax(const float * logits, int64_t n_vocab, float * out);

// The base file: a GGUF with the tokens of the text (to check a later run reads the same
// text), the chunk size, and a tensor "log_probs" [n_vocab, n_scored] (F32).
void save_kl_base(const std::string & path, std::span<const int32_t> tokens, int64_t n_ctx, int64_t n_vocab,
                  std::span<const float> log_probs);

class kl_base {
  public:
    // Maps the file and checks it was made over `tokens` with chunks of n_ctx and a vocabulary
    // of n_vocab; throws naming what differs.
    kl_base(const std::string & path, std::span<const int32_t> tokens, int64_t n_ctx, int64_t n_vocab);

    int64_t size() const { return n_scored_; }
    // The log-probabilities of scored position i: n_vocab floats.
    const float * row(int64_t i) const { return data_ + i * n_vocab_; }

  private:
    gguf_file     file_;
    const float * data_     = nullptr;
    int64_t       n_vocab_  = 0;
    int64_t       n_scored_ = 0;
};

// Accumulates the comparison, position by position.
class kl_stats {
  public:
    // base, run: log-probabilities (n_vocab); target: the next token of the text.
    void add(const float * base, const float * run, int64_t n_vocab, int32_t target);

    int64_t count() const { return static_cast<int64_t>(kl_.size()); }
    double  base_ppl() const;
    double  ppl() const;
    double  mean_kl() const;
    double  p99_kl() const;      // the 99th percentile of the per-position KL divergence
    double  top1_agree() const;  // share of positions whose most likely tokens are the same

  private:
    std::vector<double> kl_;
    double              base_nll_ = 0.0, nll_ = 0.0;
    int64_t             same_top_ = 0;
};

}  // namespace sluice
