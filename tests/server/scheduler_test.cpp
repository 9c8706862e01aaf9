// The scheduler with the tiny model: requests decoded together in one batch produce exactly
// the tokens each produces alone; the queue is bounded; a cancelled request frees its slot;
// a request that fails reports an error and the scheduler keeps serving.
#include "server/scheduler.h"

#include "server_test_util.h"

#include <gtest/gtest.h>

#include <thread>

namespace sluice::server {
namespace {

using namespace std::chrono_literals;

scheduler_options options(int slots, int queue) {
    scheduler_options o;
    o.n_slots         = slots;
    o.max_queue       = queue;
    o.session.n_ctx   = 96;
    o.session.n_batch = 8;  // prompts take several chunks, interleaved with decode steps
    o.session.kv_type = ggml_type::F32;
    return o;
}

job greedy_job(std::vector<int32_t> prompt, int64_t max_tokens) {
    job j;
    j.prompt               = std::move(prompt);
    j.max_tokens           = max_tokens;
    j.sampling.temperature = 0.0f;
    j.top_logprobs         = 0;  // the events then carry the token ids
    j.ignore_eos           = true;
    return j;
}

struct outcome {
    std::vector<int32_t> ids;
    std::string          text, finish;
    job_usage            usage;
    bool                 error = false;
};

outcome collect(job_channel & ch) {
    outcome o;
    for (;;) {
        for (job_event & ev : ch.wait(1000ms)) {
            for (const token_logprob & lp : ev.logprobs) {
                o.ids.push_back(lp.id);
            }
            o.text += ev.text;
            if (ev.done) {
                o.finish = ev.finish_reason;
                o.usage  = ev.usage;
                o.error  = ev.error.has_value();
                return o;
            }
        }
    }
}

std::vector<int32_t> alone(const std::vector<int32_t> & prompt, int64_t n) {
    session_options so;
    so.n_ctx   = 96;
    so.kv_type = ggml_type::F32;
    session              s(test::tiny_engine(), so);
    sampler              pick({.temperature = 0.0f});
    std::vector<int32_t> out;
    generate_options     g;
    g.n_predict  = static_cast<int32_t>(n);
    g.ignore_eos = true;
    s.generate(prompt, g, pick, [&](int32_t id) {
        out.push_back(id);
        return true;
    });
    return out;
}

TEST(scheduler, batched_requests_equal_each_alone) {
    server_metrics                          m;
    scheduler                               s(test::tiny_engine(), options(3, 8), m);
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13},
        {1, 629},
        {1, 500, 13, 319, 4054, 950, 333, 270, 894, 894, 1089, 4017, 13, 319, 4054, 13, 319}};
    const int64_t n[3] = {20, 31, 9};
    // Five requests on three slots: two wait in the queue and join as others leave.
    std::vector<std::shared_ptr<job_channel>> chans;
    for (int i = 0; i < 5; ++i) {
        chans.push_back(s.submit(greedy_job(prompts[i % 3], n[i % 3])));
        ASSERT_NE(chans.back(), nullptr);
    }
    std::vector<outcome> got;
    for (int i = 0; i < 5; ++i) {
        got.push_back(collect(*chans[i]));
    }
    // The engine runs one pass at a time: the solo runs start once the scheduler is idle.
    for (int i = 0; i < 5; ++i) {
        const outcome & o = got[i];
        EXPECT_FALSE(o.error);
        EXPECT_EQ(o.finish, "length");
        EXPECT_EQ(o.usage.prompt_tokens, static_cast<int64_t>(prompts[i % 3].size()));
        EXPECT_EQ(o.usage.completion_tokens, n[i % 3]);
        EXPECT_EQ(o.ids, alone(prompts[i % 3], n[i % 3])) << "request " << i;
    }
    const std::string text = m.render(s.gauges());
    EXPECT_NE(text.find("sluice_completion_tokens_total 111\n"), std::string::npos) << text;
}

// The value after "NAME " in the metrics text (-1 when absent).
double metric_value(const std::string & text, const std::string & name) {
    const size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
}

// One request alone: every decode step has one row, so each of the tiny model's 3 MoE layers
// computes exactly its k = 2 experts, and a token reads 2 experts' bytes per layer.
TEST(scheduler, metrics_count_experts_per_step_and_bytes_per_token) {
    server_metrics m;
    scheduler      s(test::tiny_engine(), options(1, 8), m);
    auto           ch = s.submit(greedy_job({1, 629, 282}, 10));
    ASSERT_NE(ch, nullptr);
    EXPECT_FALSE(collect(*ch).error);
    const std::string    text      = m.render(s.gauges());
    const expert_store & ex        = test::tiny_engine().net().experts();
    double               per_token = 0.0;  // k experts of every MoE layer
    for (int l = 0; l < ex.n_layer(); ++l) {
        per_token += 2.0 * static_cast<double>(ex.expert_bytes(l));
    }
    // 10 tokens: the first comes from the prompt's pass, the other 9 from decode steps (the
    // last sampled token is not fed back).
    EXPECT_EQ(metric_value(text, "sluice_decode_steps_total"), 9.0) << text;
    EXPECT_EQ(metric_value(text, "sluice_decode_tokens_per_step"), 1.0) << text;
    EXPECT_EQ(metric_value(text, "sluice_decode_moe_layer_passes_total"), 9.0 * 3) << text;
    EXPECT_EQ(metric_value(text, "sluice_decode_experts_per_layer_step"), 2.0) << text;
    EXPECT_NEAR(metric_value(text, "sluice_decode_expert_bytes_per_token"), per_token, 0.1) << text;
    EXPECT_EQ(metric_value(text, "sluice_queue_admitted_total"), 1.0) << text;
    EXPECT_GE(metric_value(text, "sluice_queue_wait_seconds_total"), 0.0) << text;
}

TEST(scheduler, the_queue_is_bounded_and_cancelled_requests_free_their_slot) {
    server_metrics m;
    scheduler      s(test::tiny_engine(), options(1, 1), m);
    // One slot and one place in the queue: a third request at once is refused (a and b take
    // far longer than three submissions).
    auto a = s.submit(greedy_job({1, 629}, 90));
    auto b = s.submit(greedy_job({1, 629}, 90));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(s.submit(greedy_job({1, 629}, 4)), nullptr);
    a->cancel();
    b->cancel();
    // Wait as long as both would take to run to the end, so that the checks below tell a
    // cancel that works from one that does nothing (then both finish with 90 tokens each).
    for (int i = 0; i < 3000 && s.gauges().busy_slots + s.gauges().queue_depth > 0; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(s.gauges().busy_slots, 0);
    EXPECT_EQ(s.gauges().queue_depth, 0);
    const std::string text = m.render(s.gauges());
    EXPECT_NE(text.find("sluice_requests_total{result=\"cancelled\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("sluice_requests_total{result=\"ok\"} 0\n"), std::string::npos) << text;
    auto c = s.submit(greedy_job({1, 629}, 3));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(collect(*c).usage.completion_tokens, 3);
}

TEST(scheduler, a_failing_request_reports_an_error_and_the_rest_go_on) {
    server_metrics m;
    scheduler      s(test::tiny_engine(), options(2, 4), m);
    auto           bad  = s.submit(greedy_job({1, 999999}, 4));  // past the vocabulary: the forward pass refuses
    auto           good = s.submit(greedy_job({1, 629}, 5));
    EXPECT_TRUE(collect(*bad).error);
    const outcome o = collect(*good);
    while (s.gauges().busy_slots > 0) {
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_FALSE(o.error);
    EXPECT_EQ(o.ids, alone({1, 629}, 5));
}

TEST(scheduler, stop_strings_and_end_of_generation) {
    server_metrics             m;
    scheduler                  s(test::tiny_engine(), options(1, 4), m);
    const std::vector<int32_t> prompt = {1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13};
    auto                       full   = s.submit(greedy_job(prompt, 12));
    const outcome              all    = collect(*full);
    ASSERT_GE(all.text.size(), 4u);
    job j             = greedy_job(prompt, 12);
    j.stop            = {all.text.substr(2, 2)};
    auto          cut = s.submit(std::move(j));
    const outcome o   = collect(*cut);
    EXPECT_EQ(o.finish, "stop");
    EXPECT_EQ(o.text, all.text.substr(0, all.text.find(all.text.substr(2, 2))));
    EXPECT_LT(o.usage.completion_tokens, 12);
}

// The prompt cache: a request whose prompt shares a prefix with what a free slot holds
// evaluates only the rest, and still generates exactly what it generates alone; without
// cache_prompt, or under other routing controls, nothing is reused.
TEST(scheduler, a_shared_prefix_is_reused_and_changes_nothing) {
    const std::vector<int32_t> first = {1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13};
    std::vector<int32_t>       second(first.begin(), first.begin() + 9);
    second.insert(second.end(), {77, 1234, 5});
    const auto cached = [](const std::string & metrics) {
        const std::string key = "\nsluice_prompt_tokens_cached_total ";
        const size_t      at  = metrics.find(key);
        return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + key.size()));
    };
    for (const bool on : {true, false}) {
        server_metrics    m;
        scheduler_options o = options(1, 4);
        o.cache_prompt      = on;
        scheduler     s(test::tiny_engine(), o, m);
        const outcome a = collect(*s.submit(greedy_job(first, 5)));
        const outcome b = collect(*s.submit(greedy_job(second, 5)));
        EXPECT_FALSE(a.error);
        EXPECT_FALSE(b.error);
        EXPECT_EQ(a.ids, alone(first, 5));
        EXPECT_EQ(b.ids, alone(second, 5));
        EXPECT_EQ(b.usage.prompt_tokens, 12);  // the whole prompt, cached or not
        EXPECT_EQ(b.usage.cached_tokens, on ? 9 : 0);
        EXPECT_EQ(cached(m.render(s.gauges())), on ? 9 : 0) << "cache_prompt " << on;

        // The same prompt again: all but its last token come from the cache.
        const outcome c = collect(*s.submit(greedy_job(second, 5)));
        EXPECT_EQ(c.ids, b.ids);
        EXPECT_EQ(cached(m.render(s.gauges())), on ? 9 + 11 : 0);

        // Routing controls of its own: the cached keys were computed under other routing.
        job j     = greedy_job(second, 5);
        j.routing = std::make_shared<routing_controls>();
        EXPECT_FALSE(collect(*s.submit(std::move(j))).error);
        EXPECT_EQ(cached(m.render(s.gauges())), on ? 9 + 11 : 0);
    }
}

}  // namespace
}  // namespace sluice::server
