// The hand-over between the scheduler thread (producer) and the HTTP handler thread that
// serves one request (consumer): generated text and logprobs, then one final event with the
// finish reason and usage, or an error. The handler cancels it when the client goes away,
// and the scheduler frees the request's slot at its next step.
#pragma once

#include "experts/routing_controls.h"
#include "server/api_error.h"
#include "server/logprobs.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::server {

struct job_usage {
    int64_t prompt_tokens     = 0;
    int64_t completion_tokens = 0;
    int64_t cached_tokens     = 0;  // prompt tokens a slot's cache held (the prompt cache)
};

struct job_event {
    std::string                text;      // new text, whole UTF-8 characters
    std::vector<token_logprob> logprobs;  // one per token this event covers, when asked
    std::vector<routed_token>  routed;    // one per token this event covers, when asked
    bool                       done = false;
    std::string                finish_reason;  // "stop" or "length", with done
    job_usage                  usage;          // with done
    std::optional<api_error>   error;          // done with an error
};

class job_channel {
  public:
    void push(job_event e) {
        const bool wake = e.done || !whole_only_.load();
        {
            std::lock_guard lock(mu_);
            events_.push_back(std::move(e));
        }
        if (wake) {
            cv_.notify_one();
        }
    }

    // A non-streamed response needs nothing before the end: wake the reader only then (its
    // periodic timeout still checks for a client that went away). Saves a thread wake-up per
    // token and request, which a loaded machine feels at high concurrency.
    void wake_on_done_only() { whole_only_.store(true); }

    // Everything pushed so far, waiting up to `timeout` for at least one event.
    std::vector<job_event> wait(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
        std::vector<job_event> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
        events_.clear();
        return out;
    }

    void cancel() { cancelled_.store(true); }
    bool cancelled() const { return cancelled_.load(); }

  private:
    std::mutex              mu_;
    std::condition_variable cv_;
    std::deque<job_event>   events_;
    std::atomic<bool>       cancelled_{false};
    std::atomic<bool>       whole_only_{false};
};

}  // namespace sluice::server
