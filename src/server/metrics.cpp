#include "server/metrics.h"

#include <fmt/format.h>

namespace sluice::server {

void server_metrics::on_http(const std::string & path, int status) {
    std::lock_guard lock(mu_);
    ++http_[{path, status}];
}

void server_metrics::on_prompt(int64_t tokens, double prefill_seconds) {
    std::lock_guard lock(mu_);
    tokens_in_ += static_cast<uint64_t>(tokens);
    prefill_seconds_ += prefill_seconds;
}

void server_metrics::on_first_token(double s) {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < ttft_bounds.size(); ++i) {
        if (s <= ttft_bounds[i]) {
            ++ttft_buckets_[i];
        }
    }
    ++ttft_count_;
    ttft_sum_ += s;
}

void server_metrics::on_tokens_out(int64_t tokens) {
    std::lock_guard lock(mu_);
    tokens_out_ += static_cast<uint64_t>(tokens);
}

void server_metrics::on_step(int64_t decode_rows, int64_t prompt_tokens, double seconds,
                             const engine::expert_use_summary & experts) {
    std::lock_guard lock(mu_);
    mixed_prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
    if (decode_rows == 0) {
        return;
    }
    ++decode_steps_;
    decode_rows_ += static_cast<uint64_t>(decode_rows);
    decode_seconds_ += seconds;
    if (prompt_tokens == 0) {
        pure_decode_rows_ += static_cast<uint64_t>(decode_rows);
        decode_experts_.layer_passes += experts.layer_passes;
        decode_experts_.experts += experts.experts;
        decode_experts_.bytes += experts.bytes;
    }
}

void server_metrics::on_admitted(double seconds_waited, int64_t cached_tokens) {
    std::lock_guard lock(mu_);
    ++admitted_;
    queue_wait_s_ += seconds_waited;
    cached_prompt_tokens_ += static_cast<uint64_t>(cached_tokens);
}

void server_metrics::on_request_done(bool ok) {
    std::lock_guard lock(mu_);
    ++(ok ? requests_ok_ : requests_failed_);
}

void server_metrics::on_request_cancelled() {
    std::lock_guard lock(mu_);
    ++requests_cancelled_;
}

void server_metrics::set_expert_stats(const expert_cache_counters & s) {
    std::lock_guard lock(mu_);
    experts_ = s;
}

std::string server_metrics::render(const scheduler_gauges & g) const {
    std::lock_guard lock(mu_);
    std::string     o;
    const auto      metric = [&](const char * name, const char * type, const char * help) {
        o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    metric("sluice_http_responses_total", "counter", "HTTP responses by path and status.");
    for (const auto & [key, n] : http_) {
        o += fmt::format("sluice_http_responses_total{{path=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
    }
    metric("sluice_requests_total", "counter", "Generation requests that finished, by result.");
    o += fmt::format("sluice_requests_total{{result=\"ok\"}} {}\n", requests_ok_);
    o += fmt::format("sluice_requests_total{{result=\"error\"}} {}\n", requests_failed_);
    o += fmt::format("sluice_requests_total{{result=\"cancelled\"}} {}\n", requests_cancelled_);
    metric("sluice_prompt_tokens_total", "counter",
           "Prompt tokens of requests whose prompt was evaluated (cached ones included).");
    o += fmt::format("sluice_prompt_tokens_total {}\n", tokens_in_);
    metric("sluice_completion_tokens_total", "counter", "Tokens generated and returned.");
    o += fmt::format("sluice_completion_tokens_total {}\n", tokens_out_);
    metric("sluice_prefill_seconds_total", "counter", "Time spent evaluating prompts.");
    o += fmt::format("sluice_prefill_seconds_total {:.6f}\n", prefill_seconds_);

    metric("sluice_time_to_first_token_seconds", "histogram",
           "From the request entering the queue to its first token.");
    for (size_t i = 0; i < ttft_bounds.size(); ++i) {
        o += fmt::format("sluice_time_to_first_token_seconds_bucket{{le=\"{}\"}} {}\n", ttft_bounds[i],
                         ttft_buckets_[i]);
    }
    o += fmt::format("sluice_time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {}\n", ttft_count_);
    o += fmt::format("sluice_time_to_first_token_seconds_sum {:.6f}\n", ttft_sum_);
    o += fmt::format("sluice_time_to_first_token_seconds_count {}\n", ttft_count_);

    metric("sluice_prompt_tokens_cached_total", "counter",
           "Prompt tokens a slot's cached history already held (not evaluated again).");
    o += fmt::format("sluice_prompt_tokens_cached_total {}\n", cached_prompt_tokens_);
    metric("sluice_step_prompt_tokens_total", "counter",
           "Prompt tokens evaluated in scheduler steps (chunks of prompts, next to decode rows).");
    o += fmt::format("sluice_step_prompt_tokens_total {}\n", mixed_prompt_tokens_);
    metric("sluice_decode_steps_total", "counter",
           "Batched forward passes that decoded (some also hold prompt chunks).");
    o += fmt::format("sluice_decode_steps_total {}\n", decode_steps_);
    metric("sluice_decode_tokens_total", "counter", "Tokens decoded by batched steps (rows summed over steps).");
    o += fmt::format("sluice_decode_tokens_total {}\n", decode_rows_);
    metric("sluice_decode_seconds_total", "counter", "Time spent in batched decode steps.");
    o += fmt::format("sluice_decode_seconds_total {:.6f}\n", decode_seconds_);
    metric("sluice_decode_tokens_per_second", "gauge", "Decode throughput over the server's life (all slots).");
    o += fmt::format("sluice_decode_tokens_per_second {:.3f}\n",
                     decode_seconds_ > 0 ? static_cast<double>(decode_rows_) / decode_seconds_ : 0.0);

    const auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    metric("sluice_decode_tokens_per_step", "gauge", "Sequences per batched decode step, over the server's life.");
    o += fmt::format("sluice_decode_tokens_per_step {:.3f}\n",
                     ratio(static_cast<double>(decode_rows_), static_cast<double>(decode_steps_)));
    // The expert counters below cover the steps without prompt rows: their experts serve
    // decoding alone.
    metric("sluice_decode_moe_layer_passes_total", "counter",
           "MoE blocks run by decode-only steps (steps x MoE layers).");
    o += fmt::format("sluice_decode_moe_layer_passes_total {}\n", decode_experts_.layer_passes);
    metric("sluice_decode_experts_total", "counter",
           "Distinct routed experts computed by decode-only steps, summed over steps and MoE layers.");
    o += fmt::format("sluice_decode_experts_total {}\n", decode_experts_.experts);
    metric("sluice_decode_experts_per_layer_step", "gauge",
           "Distinct experts per MoE layer and decode-only step: a step reads each once for all its sequences.");
    o += fmt::format(
        "sluice_decode_experts_per_layer_step {:.3f}\n",
        ratio(static_cast<double>(decode_experts_.experts), static_cast<double>(decode_experts_.layer_passes)));
    metric("sluice_decode_expert_bytes_total", "counter",
           "Bytes of routed-expert weights decode-only steps computed from.");
    o += fmt::format("sluice_decode_expert_bytes_total {}\n", decode_experts_.bytes);
    metric("sluice_decode_expert_bytes_per_token", "gauge", "Routed-expert bytes read per token of decode-only steps.");
    o += fmt::format("sluice_decode_expert_bytes_per_token {:.1f}\n",
                     ratio(static_cast<double>(decode_experts_.bytes), static_cast<double>(pure_decode_rows_)));
    metric("sluice_queue_wait_seconds_total", "counter", "Time requests waited in the queue before a slot.");
    o += fmt::format("sluice_queue_wait_seconds_total {:.6f}\n", queue_wait_s_);
    metric("sluice_queue_admitted_total", "counter", "Requests that left the queue for a slot.");
    o += fmt::format("sluice_queue_admitted_total {}\n", admitted_);

    metric("sluice_queue_depth", "gauge", "Requests waiting for a slot.");
    o += fmt::format("sluice_queue_depth {}\n", g.queue_depth);
    metric("sluice_slots_busy", "gauge", "Slots serving a request.");
    o += fmt::format("sluice_slots_busy {}\n", g.busy_slots);
    metric("sluice_slots_total", "gauge", "Slots (--parallel).");
    o += fmt::format("sluice_slots_total {}\n", g.n_slots);

    const uint64_t lookups = experts_.hits + experts_.misses;
    metric("sluice_expert_cache_hits_total", "counter", "Experts found resident in the expert cache.");
    o += fmt::format("sluice_expert_cache_hits_total {}\n", experts_.hits);
    metric("sluice_expert_cache_misses_total", "counter", "Experts read into the expert cache.");
    o += fmt::format("sluice_expert_cache_misses_total {}\n", experts_.misses);
    metric("sluice_expert_cache_hit_rate", "gauge", "Hits / (hits + misses); 1 when every expert is mapped.");
    o += fmt::format("sluice_expert_cache_hit_rate {:.6f}\n",
                     lookups > 0 ? static_cast<double>(experts_.hits) / static_cast<double>(lookups) : 1.0);
    metric("sluice_disk_read_bytes_total", "counter", "Bytes of experts read from disk by the expert cache.");
    o += fmt::format("sluice_disk_read_bytes_total {}\n", experts_.bytes_read);
    return o;
}

}  // namespace sluice::server
