// Load for an OpenAI-compatible server (sluice serve or a peer such as llama-server):
// `concurrency` clients send `requests` streamed /v1/completions requests between them, each
// generating exactly n_gen tokens (ignore_eos, temperature 0), and time every request from
// sending it to its last event and to its first generated text (time to first token).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::cli {

struct load_spec {
    std::string base_url;  // http://HOST:PORT
    std::string model;     // the request's "model" field
    // Starts every prompt; request i of a level gets "<tag>def f_c<concurrency>_<i>(items): ...".
    // A tag drawn per run keeps a server's prompt cache from serving prompts of earlier runs,
    // and the same prompts go to every server of a run.
    std::string tag;
    int         concurrency = 1;
    int         requests    = 8;
    int         n_gen       = 32;
};

struct load_result {
    int                 done = 0, failed = 0;
    int64_t             prompt_tokens = 0, completion_tokens = 0;
    std::vector<double> latency_ms;  // sorted
    std::vector<double> ttft_ms;     // sorted
    double              seconds = 0.0;
    std::string         first_error;  // of a failed request, for the report

    double completion_tok_s() const { return seconds > 0 ? static_cast<double>(completion_tokens) / seconds : 0.0; }
    double total_tok_s() const {
        return seconds > 0 ? static_cast<double>(prompt_tokens + completion_tokens) / seconds : 0.0;
    }
};

// Runs the load; a request that fails (no connection, a status other than 200, a malformed
// or truncated stream) counts in `failed`, never aborts the others.
load_result run_load(const load_spec & spec);

// The value at fraction p (0..1) of sorted values, nearest rank; 0 when empty.
double percentile(const std::vector<double> & sorted, double p);

// Checks a --peer-url: "http://HOST:PORT" (no path, no https); fails with a clear error.
std::string checked_base_url(const std::string & url);

}  // namespace sluice::cli
