#include "server/response.h"

#include <atomic>
#include <chrono>
#include <random>

namespace sluice::server {
namespace {

constexpr const char * fingerprint = "sluice-0.1.0";

ojson bytes_of(const std::string & s) {
    ojson b = ojson::array();
    for (unsigned char c : s) {
        b.push_back(static_cast<int>(c));
    }
    return b;
}

ojson finish_json(const std::optional<std::string> & f) {
    return f ? ojson(*f) : ojson(nullptr);
}

}  // namespace

response_meta make_meta(const char * id_prefix, const std::string & model) {
    static std::atomic<uint64_t> counter{std::random_device{}()};
    const uint64_t               n = counter.fetch_add(0x9E3779B97F4A7C15ull);
    const int64_t                now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(n));
    return {std::string(id_prefix) + buf, now, model};
}

ojson usage_json(const job_usage & u) {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

ojson chat_logprobs(const tokenizer & tok, const std::vector<token_logprob> & lps) {
    ojson content = ojson::array();
    for (const token_logprob & lp : lps) {
        const std::string text = tok.token_bytes(lp.id);
        ojson             top  = ojson::array();
        for (const auto & [id, l] : lp.top) {
            const std::string t = tok.token_bytes(id);
            top.push_back({{"token", t}, {"logprob", l}, {"bytes", bytes_of(t)}});
        }
        content.push_back({{"token", text}, {"logprob", lp.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
}

ojson completion_logprobs(const tokenizer & tok, const std::vector<token_logprob> & lps, int64_t offset0) {
    ojson   tokens = ojson::array(), token_lps = ojson::array(), tops = ojson::array(), offsets = ojson::array();
    int64_t offset = offset0;
    for (const token_logprob & lp : lps) {
        const std::string text = tok.token_bytes(lp.id);
        tokens.push_back(text);
        token_lps.push_back(lp.logprob);
        ojson top = ojson::object();
        for (const auto & [id, l] : lp.top) {
            top[tok.token_bytes(id)] = l;
        }
        tops.push_back(top);
        offsets.push_back(offset);
        offset += static_cast<int64_t>(text.size());
    }
    return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

ojson chat_response(const response_meta & m, const std::string & text, const std::string & finish, const job_usage & u,
                    const ojson & logprobs) {
    ojson choice = {{"index", 0},
                    {"message", {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                    {"logprobs", logprobs},
                    {"finish_reason", finish}};
    return {{"id", m.id},
            {"object", "chat.completion"},
            {"created", m.created},
            {"model", m.model},
            {"system_fingerprint", fingerprint},
            {"choices", ojson::array({choice})},
            {"usage", usage_json(u)}};
}

ojson chat_chunk(const response_meta & m, const ojson & delta, const std::optional<std::string> & finish,
                 const ojson & logprobs, bool usage_null) {
    ojson choice = {{"index", 0}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", finish_json(finish)}};
    ojson c      = {{"id", m.id},       {"object", "chat.completion.chunk"}, {"created", m.created},
                    {"model", m.model}, {"system_fingerprint", fingerprint}, {"choices", ojson::array({choice})}};
    if (usage_null) {
        c["usage"] = nullptr;
    }
    return c;
}

ojson completion_response(const response_meta & m, const std::string & text, const std::string & finish,
                          const job_usage & u, const ojson & logprobs) {
    ojson choice = {{"text", text}, {"index", 0}, {"logprobs", logprobs}, {"finish_reason", finish}};
    return {{"id", m.id},
            {"object", "text_completion"},
            {"created", m.created},
            {"model", m.model},
            {"system_fingerprint", fingerprint},
            {"choices", ojson::array({choice})},
            {"usage", usage_json(u)}};
}

ojson completion_chunk(const response_meta & m, const std::string & text, const std::optional<std::string> & finish,
                       const ojson & logprobs, bool usage_null) {
    ojson choice = {{"text", text}, {"index", 0}, {"logprobs", logprobs}, {"finish_reason", finish_json(finish)}};
    ojson c      = {{"id", m.id},       {"object", "text_completion"},       {"created", m.created},
                    {"model", m.model}, {"system_fingerprint", fingerprint}, {"choices", ojson::array({choice})}};
    if (usage_null) {
        c["usage"] = nullptr;
    }
    return c;
}

ojson routed_experts_json(const std::vector<routed_token> & tokens) {
    ojson out = ojson::array();
    for (const routed_token & t : tokens) {
        ojson layers = ojson::array();
        for (const routed_token::layer_choice & c : t.layers) {
            layers.push_back({{"layer", c.layer}, {"experts", c.experts}, {"weights", c.weights}});
        }
        out.push_back(std::move(layers));
    }
    return out;
}

ojson usage_chunk(const response_meta & m, bool chat, const job_usage & u) {
    return {{"id", m.id},
            {"object", chat ? "chat.completion.chunk" : "text_completion"},
            {"created", m.created},
            {"model", m.model},
            {"system_fingerprint", fingerprint},
            {"choices", ojson::array()},
            {"usage", usage_json(u)}};
}

}  // namespace sluice::server
