#include "server/scheduler.h"

#include "util/error.h"

#include <algorithm>

namespace sluice::server {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

scheduler::scheduler(engine & e, const scheduler_options & opt, server_metrics & metrics)
    : engine_(e), opt_(opt), metrics_(metrics), eog_(e.end_of_generation_ids()) {
    e.require_tokenizer();
    if (opt_.n_slots < 1) {
        fail("--parallel must be at least 1");
    }
    if (opt_.session.n_batch <= 0) {
        opt_.session.n_batch = 256;
    }
    slots_.resize(static_cast<size_t>(opt_.n_slots));
    for (slot & s : slots_) {
        s.s = std::make_unique<session>(e, opt_.session);
    }
    n_ctx_  = slots_[0].s->n_ctx();
    thread_ = std::thread([this] { loop(); });
}

scheduler::~scheduler() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    job_event ev;
    ev.done  = true;
    ev.error = api_error(503, "The server is shutting down.", "server_error");
    for (queued & q : queue_) {
        q.ch->push(ev);
    }
    for (slot & s : slots_) {
        if (s.req) {
            s.req->ch->push(ev);
        }
    }
}

std::shared_ptr<job_channel> scheduler::submit(job j) {
    auto ch = std::make_shared<job_channel>();
    {
        std::lock_guard lock(mu_);
        // A request may take a free slot at once; the bound is on those that have to wait.
        const int64_t waiting_after = static_cast<int64_t>(queue_.size()) + 1;
        const int64_t free_slots    = opt_.n_slots - busy_.load();
        if (stop_ || waiting_after - free_slots > opt_.max_queue) {
            return nullptr;
        }
        queue_.push_back({std::move(j), ch, std::chrono::steady_clock::now()});
    }
    cv_.notify_one();
    return ch;
}

scheduler_gauges scheduler::gauges() const {
    std::lock_guard lock(mu_);
    return {static_cast<int64_t>(queue_.size()), busy_.load(), opt_.n_slots};
}

bool scheduler::has_work() const {
    return stop_ || !queue_.empty() || busy_.load() > 0;
}

void scheduler::loop() {
    for (;;) {
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return has_work(); });
            if (stop_) {
                return;
            }
        }
        drop_cancelled();
        admit();
        step();
        // Between passes, and not every step: the streaming cache sums its layers to answer.
        if (clock::now() - stats_read_ > std::chrono::milliseconds(250)) {
            metrics_.set_expert_stats(engine_.expert_stats());
            stats_read_ = clock::now();
        }
    }
}

void scheduler::drop_cancelled() {
    for (slot & s : slots_) {
        if (s.req && s.req->ch->cancelled()) {
            s.req.reset();
            s.next_token = -1;
            busy_.fetch_sub(1);
            metrics_.on_request_cancelled();
        }
    }
}

void scheduler::admit() {
    std::lock_guard lock(mu_);
    for (;;) {
        while (!queue_.empty() && queue_.front().ch->cancelled()) {
            queue_.pop_front();
            metrics_.on_request_cancelled();
        }
        if (queue_.empty()) {
            return;
        }
        if (opt_.mirror != nullptr && queue_.front().j.routing) {
            refuse(queue_.front(),
                   "Routing controls per request are not supported when the experts are split "
                   "across processes (--expert-parallel); the server's flags apply.");
            queue_.pop_front();
            continue;
        }
        const job &                                   j       = queue_.front().j;
        const std::shared_ptr<const routing_controls> routing = j.routing ? j.routing : opt_.session.routing;
        // The free slot whose cached history shares the longest prefix with the prompt.
        slot * pick = nullptr;
        size_t keep = 0;
        for (slot & s : slots_) {
            if (s.req) {
                continue;
            }
            size_t common = 0;
            if (opt_.cache_prompt && s.reusable && s.cached_with == routing) {
                const std::vector<int32_t> & h = s.s->history();
                const auto mismatch            = std::mismatch(h.begin(), h.end(), j.prompt.begin(), j.prompt.end());
                common                         = static_cast<size_t>(mismatch.first - h.begin());
                // At least one prompt token is evaluated (its logits give the first token), and a
                // model with recurrent state can only continue from its whole history.
                common = std::min(common, j.prompt.size() - 1);
                if (common < h.size() && !s.s->can_rewind()) {
                    common = 0;
                }
            }
            if (pick == nullptr || common > keep) {
                pick = &s;
                keep = common;
            }
        }
        if (pick == nullptr) {
            return;
        }
        slot & s = *pick;
        s.req    = std::move(queue_.front());
        queue_.pop_front();
        busy_.fetch_add(1);
        metrics_.on_admitted(seconds_since(s.req->submitted), static_cast<int64_t>(keep));
        s.s->rewind(static_cast<int64_t>(keep));
        s.s->set_routing(routing);
        s.s->set_record_routing(s.req->j.return_routed_experts);
        s.reusable    = true;
        s.cached_with = routing;
        s.pick.emplace(s.req->j.sampling);
        s.text.emplace(*engine_.tok(), s.req->j.stop);
        s.prefilled  = keep;
        s.cached     = keep;
        s.restart_at = static_cast<int32_t>(keep);
        s.next_token = -1;
        s.generated  = 0;
        s.prefill_ms = 0.0;
    }
}

void scheduler::step() {
    // Decoding slots in slot order, then prompt chunks, oldest request first, until the
    // step holds n_batch prompt tokens: a long prompt is split over steps, and each step
    // still advances every running stream by one token (both latencies stay bounded by a
    // chunk). One pass for all of them reads each expert once.
    std::vector<slot *> members, prefilling;
    for (slot & s : slots_) {
        if (s.req && s.next_token >= 0) {
            members.push_back(&s);
        } else if (s.req && s.prefilled < s.req->j.prompt.size()) {
            prefilling.push_back(&s);
        }
    }
    const size_t n_decode = members.size();
    std::stable_sort(prefilling.begin(), prefilling.end(),
                     [](const slot * a, const slot * b) { return a->req->submitted < b->req->submitted; });
    std::vector<session *>                group;
    std::vector<std::span<const int32_t>> chunks;
    std::vector<step_mirror::part>        parts;
    for (slot * s : members) {
        group.push_back(s->s.get());
        chunks.emplace_back(&s->next_token, 1);
    }
    auto    budget        = static_cast<size_t>(opt_.session.n_batch);
    int64_t prompt_tokens = 0;
    for (slot * s : prefilling) {
        if (budget == 0) {
            break;
        }
        const std::vector<int32_t> & prompt = s->req->j.prompt;
        const size_t                 n      = std::min(budget, prompt.size() - s->prefilled);
        budget -= n;
        prompt_tokens += static_cast<int64_t>(n);
        members.push_back(s);
        group.push_back(s->s.get());
        chunks.push_back(std::span<const int32_t>(prompt).subspan(s->prefilled, n));
    }
    if (group.empty()) {
        return;
    }
    for (size_t i = 0; i < members.size(); ++i) {
        parts.push_back(
            {static_cast<int>(members[i] - slots_.data()), i >= n_decode ? members[i]->restart_at : -1, chunks[i]});
        members[i]->restart_at = -1;
    }
    // Runs members [first, first + n) in one pass (announced to the mirror first).
    const auto run = [&](size_t first, size_t n) {
        if (opt_.mirror != nullptr) {
            opt_.mirror->step(std::span<const step_mirror::part>(parts).subspan(first, n));
        }
        eval_batch(std::span<session * const>(group).subspan(first, n),
                   std::span<const std::span<const int32_t>>(chunks).subspan(first, n));
    };
    const auto                       t0   = std::chrono::steady_clock::now();
    const engine::expert_use_summary use0 = engine_.expert_use();
    std::vector<bool>                ok(members.size(), true);
    std::vector<int64_t>             n_past_before;
    for (const session * g : group) {
        n_past_before.push_back(g->n_past());
    }
    try {
        run(0, members.size());
    } catch (const std::exception & e) {
        // A pass checks its whole input before it changes any state. If nothing advanced, one
        // member's input (a bad id, a full context) broke the shared pass: each runs alone, so
        // only those at fault fail. If the pass ran and failed after (non-finite logits),
        // every member's state moved on and all fail.
        bool advanced = false;
        for (size_t i = 0; i < group.size(); ++i) {
            advanced = advanced || group[i]->n_past() != n_past_before[i];
        }
        for (size_t i = 0; i < members.size(); ++i) {
            std::string why = e.what();
            if (!advanced && members.size() > 1) {
                try {
                    run(i, 1);
                    continue;
                } catch (const std::exception & alone) {
                    why = alone.what();
                }
            }
            fail_slot(*members[i], why);
            ok[i] = false;
        }
    }
    const double                     seconds = seconds_since(t0);
    const engine::expert_use_summary use1    = engine_.expert_use();
    metrics_.on_step(static_cast<int64_t>(n_decode), prompt_tokens, seconds,
                     {use1.layer_passes - use0.layer_passes, use1.experts - use0.experts, use1.bytes - use0.bytes});
    for (size_t i = 0; i < members.size(); ++i) {
        slot & s = *members[i];
        if (!ok[i]) {
            continue;
        }
        if (i < n_decode) {
            s.next_token = -1;
            after_logits(s);
            continue;
        }
        const std::vector<int32_t> & prompt = s.req->j.prompt;
        s.prefilled += chunks[i].size();
        s.prefill_ms += seconds * 1000.0;
        if (s.prefilled == prompt.size()) {
            metrics_.on_prompt(static_cast<int64_t>(prompt.size()), s.prefill_ms / 1000.0);
            after_logits(s);
        }
    }
}

void scheduler::after_logits(slot & s) {
    const job &                  j      = s.req->j;
    const std::span<const float> logits = s.s->logits();
    const int32_t                id     = s.pick->sample(logits, s.s->history());
    if (s.generated == 0) {
        metrics_.on_first_token(seconds_since(s.req->submitted));
    }
    job_event  ev;
    const bool eog = !j.ignore_eos && std::find(eog_.begin(), eog_.end(), id) != eog_.end();
    if (eog) {  // the end token is not part of the reply and not counted
        finish(s, "stop", ev);
        return;
    }
    if (j.top_logprobs >= 0) {
        ev.logprobs.push_back(compute_logprob(logits, id, j.top_logprobs));
    }
    if (j.return_routed_experts) {  // the routing that computed the logits this token came from
        ev.routed.push_back(s.s->last_routing());
    }
    ++s.generated;
    metrics_.on_tokens_out(1);
    ev.text = s.text->push(id);
    if (s.text->stopped()) {
        finish(s, "stop", ev);
    } else if (s.generated >= j.max_tokens || s.s->n_past() >= n_ctx_) {
        finish(s, "length", ev);  // a full context cannot take the token back in
    } else {
        s.next_token = id;
        s.req->ch->push(std::move(ev));
    }
}

void scheduler::finish(slot & s, const char * reason, job_event & ev) {
    ev.text += s.text->finish();
    ev.done                    = true;
    ev.finish_reason           = reason;
    ev.usage.prompt_tokens     = static_cast<int64_t>(s.req->j.prompt.size());
    ev.usage.completion_tokens = s.generated;
    ev.usage.cached_tokens     = static_cast<int64_t>(s.cached);
    s.req->ch->push(std::move(ev));
    s.req.reset();
    busy_.fetch_sub(1);
    metrics_.on_request_done(true);
}

void scheduler::refuse(queued & q, const std::string & message) {
    job_event ev;
    ev.done  = true;
    ev.error = api_error(400, message, "invalid_request_error");
    q.ch->push(std::move(ev));
    metrics_.on_request_done(false);
}

void scheduler::fail_slot(slot & s, const std::string & message) {
    s.reusable = false;  // its state may have moved past its history
    job_event ev;
    ev.done  = true;
    ev.error = api_error(500, "Generation failed: " + message, "server_error");
    s.req->ch->push(std::move(ev));
    s.req.reset();
    s.next_token = -1;
    busy_.fetch_sub(1);
    metrics_.on_request_done(false);
}

}  // namespace sluice::server
