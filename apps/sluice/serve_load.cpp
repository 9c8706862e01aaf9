#include "serve_load.h"

#include "util/error.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace sluice::cli {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// A server's event larger than this ends the request as failed (bounded before it is parsed).
constexpr size_t k_max_event_bytes = 1 << 20;

// What one streamed request saw.
struct request_outcome {
    bool        ok = false;
    std::string error;
    double      latency_ms = 0.0, ttft_ms = -1.0;
    int64_t     prompt_tokens = 0, completion_tokens = 0, text_chunks = 0;
    bool        usage_seen = false, done_seen = false;
};

// Applies one "data: ..." payload of the stream to `out`; false on a malformed event.
bool apply_event(const std::string & data, clock_type::time_point t0, request_outcome & out) {
    if (data == "[DONE]") {
        out.done_seen = true;
        return true;
    }
    const nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        out.error = "a stream event is not a JSON object";
        return false;
    }
    if (j.contains("error")) {
        out.error = fmt::format("the server reported an error: {}", j["error"].dump());
        return false;
    }
    if (const auto c = j.find("choices"); c != j.end() && c->is_array() && !c->empty()) {
        const auto t = (*c)[0].find("text");
        if (t != (*c)[0].end() && t->is_string() && !t->get_ref<const std::string &>().empty()) {
            if (out.ttft_ms < 0) {
                out.ttft_ms = ms_since(t0);
            }
            ++out.text_chunks;
        }
    }
    if (const auto u = j.find("usage"); u != j.end() && u->is_object()) {
        out.prompt_tokens     = u->value("prompt_tokens", int64_t{0});
        out.completion_tokens = u->value("completion_tokens", int64_t{0});
        out.usage_seen        = true;
    }
    return true;
}

request_outcome send_one(httplib::Client & c, const load_spec & spec, int i) {
    request_outcome out;
    // Different prompts per request, as independent users would send.
    const nlohmann::json body = {
        {"model", spec.model},
        {"prompt", fmt::format("{}def f_c{}_{}(items):\n    \"\"\"Return the sorted items.\"\"\"\n", spec.tag,
                               spec.concurrency, i)},
        {"max_tokens", spec.n_gen},
        {"temperature", 0.0},
        {"ignore_eos", true},
        {"stream", true},
        {"stream_options", {{"include_usage", true}}}};
    httplib::Request req;
    req.method = "POST";
    req.path   = "/v1/completions";
    req.body   = body.dump();
    req.set_header("Content-Type", "application/json");
    std::string pending;
    bool        malformed = false;
    const auto  t0        = clock_type::now();
    req.content_receiver  = [&](const char * data, size_t n, uint64_t, uint64_t) {
        pending.append(data, n);
        for (size_t end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
            const std::string event = pending.substr(0, end);
            pending.erase(0, end + 2);
            for (size_t p = 0; p < event.size();) {
                size_t eol = event.find('\n', p);
                eol        = eol == std::string::npos ? event.size() : eol;
                std::string line(event, p, eol - p);
                if (!line.empty() && line.back() == '\r') {
                    line.pop_back();
                }
                if (line.rfind("data:", 0) == 0) {
                    const size_t skip = line.size() > 5 && line[5] == ' ' ? 6 : 5;
                    if (!apply_event(line.substr(skip), t0, out)) {
                        malformed = true;
                        return false;
                    }
                }
                p = eol + 1;
            }
        }
        if (pending.size() > k_max_event_bytes) {
            out.error = "a stream event over 1 MiB";
            malformed = true;
            return false;
        }
        return true;
    };
    httplib::Response res;
    httplib::Error    err  = httplib::Error::Success;
    const bool        sent = c.send(req, res, err);
    out.latency_ms         = ms_since(t0);
    if (malformed) {
        return out;
    }
    if (!sent) {
        out.error = fmt::format("no reply ({})", httplib::to_string(err));
        return out;
    }
    if (res.status != 200) {
        out.error = fmt::format("HTTP status {}: {}", res.status, pending.substr(0, 200));
        return out;
    }
    if (!out.done_seen) {
        out.error = "the stream ended without data: [DONE]";
        return out;
    }
    if (!out.usage_seen) {  // a server without stream usage: one chunk per token
        out.completion_tokens = out.text_chunks;
    }
    out.ok = true;
    return out;
}

}  // namespace

std::string checked_base_url(const std::string & url) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0) {
        fail("--peer-url {}: give http://HOST:PORT (https is not supported)", url);
    }
    const std::string rest  = url.substr(scheme.size());
    const size_t      colon = rest.rfind(':');
    const std::string port  = colon == std::string::npos ? "" : rest.substr(colon + 1);
    if (colon == 0 || port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
        fail("--peer-url {}: give http://HOST:PORT, with a port from 1 to 65535 and no path", url);
    }
    return url;
}

load_result run_load(const load_spec & spec) {
    load_result      r;
    std::mutex       mu;
    std::atomic<int> next{0};
    const auto       t0     = clock_type::now();
    const auto       client = [&] {
        httplib::Client c(spec.base_url);
        c.set_connection_timeout(10, 0);
        c.set_read_timeout(300, 0);
        for (int i = next++; i < spec.requests; i = next++) {
            const request_outcome o = send_one(c, spec, i);
            std::lock_guard       lock(mu);
            if (!o.ok) {
                ++r.failed;
                if (r.first_error.empty()) {
                    r.first_error = o.error;
                }
                continue;
            }
            r.prompt_tokens += o.prompt_tokens;
            r.completion_tokens += o.completion_tokens;
            r.latency_ms.push_back(o.latency_ms);
            r.ttft_ms.push_back(o.ttft_ms < 0 ? o.latency_ms : o.ttft_ms);  // no text: its end
            ++r.done;
        }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < spec.concurrency; ++i) {
        threads.emplace_back(client);
    }
    for (std::thread & t : threads) {
        t.join();
    }
    r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::sort(r.latency_ms.begin(), r.latency_ms.end());
    std::sort(r.ttft_ms.begin(), r.ttft_ms.end());
    return r;
}

double percentile(const std::vector<double> & sorted, double p) {
    if (sorted.empty()) {
        return 0.0;
    }
    const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5));
    return sorted[i];
}

}  // namespace sluice::cli
