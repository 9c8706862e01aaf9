// Continuous batching. One thread owns the engine and runs every forward pass: N slots (one
// session each) decode together, one batched step at a time; a request joins a free slot
// between steps (its prompt is evaluated in chunks inside the steps, next to the others'
// decode rows), and leaves when it finishes or its client goes away. Requests beyond N wait in a bounded queue.
#pragma once

#include "engine/engine.h"
#include "server/channel.h"
#include "server/metrics.h"
#include "server/text_stream.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace sluice::server {

// One request, ready to run: prompt ids and how to generate.
struct job {
    std::vector<int32_t>     prompt;           // not empty, shorter than the slot's context
    int64_t                  max_tokens = 16;  // > 0; a full context also ends generation
    sampler_params           sampling;
    std::vector<std::string> stop;
    int                      top_logprobs = -1;  // < 0: no logprobs
    bool                     ignore_eos   = false;
    // Routing controls for this request; nullptr: the server's (scheduler_options::session).
    std::shared_ptr<const routing_controls> routing               = nullptr;
    bool                                    return_routed_experts = false;
};

// Expert parallelism (`serve --expert-parallel` under mpirun): the scheduler announces every
// forward pass here before it runs it, so that the other ranks run the same pass on their own
// copies of the slots (apps/sluice/cmd_serve.cpp) and take part in its exchanges.
class step_mirror {
  public:
    // What one slot feeds in a step: a sampled token or the next chunk of its prompt.
    // restart_at >= 0 (the first chunk of a new request): its session first keeps only that
    // many tokens of its history (session::rewind; 0 starts over).
    struct part {
        int                      slot;
        int32_t                  restart_at;
        std::span<const int32_t> tokens;
    };
    virtual ~step_mirror() = default;
    // One step: every part in one eval_batch pass, in this order.
    virtual void step(std::span<const part> parts) = 0;
};

struct scheduler_options {
    int             n_slots   = 1;
    int             max_queue = 64;  // waiting requests beyond the slots; more get nullptr (503)
    session_options session;         // per slot: context, KV type, prompt batch
    // A new request takes the free slot whose history shares the longest prefix with its
    // prompt and evaluates only the rest (llama-server's cache_prompt), when both were routed
    // by the same controls. false: every request starts from an empty slot.
    bool cache_prompt = true;
    // Set under expert parallelism. The other ranks' slots route as session.routing says, so
    // requests that bring routing controls of their own are refused (400).
    step_mirror * mirror = nullptr;
};

class scheduler {
  public:
    scheduler(engine & e, const scheduler_options & opt, server_metrics & metrics);
    ~scheduler();  // stops the thread; queued and running requests get an error event

    scheduler(const scheduler &)             = delete;
    scheduler & operator=(const scheduler &) = delete;

    // Queues a request; nullptr when the queue is full.
    std::shared_ptr<job_channel> submit(job j);

    int64_t          n_ctx() const { return n_ctx_; }  // per slot
    scheduler_gauges gauges() const;

  private:
    struct queued {
        job                                   j;
        std::shared_ptr<job_channel>          ch;
        std::chrono::steady_clock::time_point submitted;
    };
    struct slot {
        std::unique_ptr<session>   s;
        std::optional<queued>      req;  // empty: free
        std::optional<sampler>     pick;
        std::optional<text_stream> text;
        size_t                     prefilled  = 0;   // prompt tokens evaluated so far (cached ones included)
        size_t                     cached     = 0;   // prompt tokens the slot's history held
        int32_t                    restart_at = -1;  // to announce with the first chunk (step_mirror)
        // Whether the session's history may serve the next request's prompt (not after a failed
        // step), and the routing controls it was computed with (null: none).
        bool                                    reusable = false;
        std::shared_ptr<const routing_controls> cached_with;
        int32_t                                 next_token = -1;  // sampled, to be fed in the next step
        int64_t                                 generated  = 0;
        double                                  prefill_ms = 0.0;
    };

    void loop();
    void admit();  // queue -> free slots
    // One forward pass: the next token of every decoding slot, plus prompt chunks of slots
    // still prefilling (oldest request first) up to n_batch prompt tokens.
    void step();
    void after_logits(slot & s);
    void finish(slot & s, const char * reason, job_event & ev);
    void fail_slot(slot & s, const std::string & message);
    void refuse(queued & q, const std::string & message);  // a 400 before it takes a slot
    void drop_cancelled();
    bool has_work() const;  // with mu_ held

    engine &             engine_;
    scheduler_options    opt_;
    server_metrics &     metrics_;
    int64_t              n_ctx_ = 0;
    std::vector<int32_t> eog_;
    std::vector<slot>    slots_;

    mutable std::mutex      mu_;  // guards queue_, stop_
    std::condition_variable cv_;
    std::deque<queued>      queue_;
    bool                    stop_ = false;
    std::atomic<int64_t>    busy_{0};
    using clock = std::chrono::steady_clock;
    clock::time_point stats_read_{};
    std::thread       thread_;
};

}  // namespace sluice::server
