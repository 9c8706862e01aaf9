// Counters for GET /metrics, rendered in Prometheus' text format (version 0.0.4). The HTTP
// threads and the scheduler thread update them; one mutex guards everything (updates are
// a few per token, far below a forward pass).
#pragma once

#include "engine/engine.h"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace sluice::server {

// Read from the scheduler when rendering.
struct scheduler_gauges {
    int64_t queue_depth = 0;
    int64_t busy_slots  = 0;
    int64_t n_slots     = 0;
};

class server_metrics {
  public:
    void on_http(const std::string & path, int status);  // every response
    void on_prompt(int64_t tokens, double prefill_seconds);
    void on_first_token(double seconds_since_submit);
    void on_tokens_out(int64_t tokens);
    // One scheduler step: a forward pass of `decode_rows` decoding sequences and
    // `prompt_tokens` prompt tokens of sequences still prefilling, and what its MoE blocks
    // computed (counted per decoded token only in steps without prompt rows, whose experts
    // serve decoding alone).
    void on_step(int64_t decode_rows, int64_t prompt_tokens, double seconds,
                 const engine::expert_use_summary & experts = {});
    // A request left the queue for a slot, whose history held its first cached_tokens.
    void on_admitted(double seconds_waited, int64_t cached_tokens = 0);
    void on_request_done(bool ok);
    void on_request_cancelled();  // the client went away
    void set_expert_stats(const expert_cache_counters & s);

    std::string render(const scheduler_gauges & g) const;

  private:
    // Upper bounds of the time-to-first-token histogram, seconds.
    static constexpr std::array<double, 11> ttft_bounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

    mutable std::mutex                              mu_;
    std::map<std::pair<std::string, int>, uint64_t> http_;  // (path, status) -> responses
    uint64_t                                        requests_ok_ = 0, requests_failed_ = 0, requests_cancelled_ = 0;
    uint64_t                                        tokens_in_ = 0, tokens_out_ = 0;
    double                                          prefill_seconds_ = 0.0;
    std::array<uint64_t, ttft_bounds.size()>        ttft_buckets_{};
    uint64_t                                        ttft_count_   = 0;
    double                                          ttft_sum_     = 0.0;
    uint64_t                                        decode_steps_ = 0, decode_rows_ = 0;
    uint64_t                                        mixed_prompt_tokens_  = 0;  // prompt rows in steps
    uint64_t                                        cached_prompt_tokens_ = 0;
    uint64_t                                        pure_decode_rows_     = 0;  // rows of decode-only steps
    double                                          decode_seconds_       = 0.0;
    engine::expert_use_summary                      decode_experts_;
    uint64_t                                        admitted_     = 0;
    double                                          queue_wait_s_ = 0.0;
    expert_cache_counters                           experts_;
};

}  // namespace sluice::server
