#include "server/prompt.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <random>

namespace sluice::server {
namespace {

// Requests without a seed still differ from one another, as OpenAI's do.
uint64_t fresh_seed() {
    static std::mutex      mu;
    static std::mt19937_64 gen{std::random_device{}()};
    std::lock_guard        lock(mu);
    return gen();
}

}  // namespace

prompt_builder::prompt_builder(const engine & e, const std::string & template_name)
    : tok_(e.require_tokenizer()),
      template_(
          pick_chat_template(template_name, e.file().get_string("tokenizer.chat_template"), e.file().path(), origin_)),
      ids_(tok_) {}

void prompt_builder::check_bytes(size_t bytes, int64_t n_ctx, const char * param) const {
    // n tokens cover at most n * max_token_bytes bytes, so a longer text needs n_ctx tokens
    // or more: refused without spending the time to tokenize it.
    if (n_ctx > 0 && bytes / ids_.max_token_bytes() >= static_cast<uint64_t>(n_ctx)) {
        throw api_error(400,
                        fmt::format("This model's maximum context length is {} tokens. However, your prompt is {} "
                                    "bytes, more than {} tokens of at most {} bytes each can hold. Please reduce "
                                    "its length.",
                                    n_ctx, bytes, n_ctx, ids_.max_token_bytes()),
                        "invalid_request_error", param, "context_length_exceeded");
    }
}

// The messages go through chat_prompt (chat/chat_prompt.h), as `sluice run --chat`'s do: what
// a client typed is tokenized as text, the template's markup with its control tokens.
chat_prompt::rendered prompt_builder::render(const nlohmann::ordered_json & messages) const {
    chat_render_options ro;
    ro.add_generation_prompt = true;
    try {
        return ids_.render(template_, messages, ro);
    } catch (const error & e) {  // raise_exception() in the template: the conversation is not valid for it
        throw bad_param("messages", fmt::format("The chat template refused the messages: {}", e.what()),
                        "invalid_value");
    }
}

std::vector<int32_t> prompt_builder::chat(const nlohmann::ordered_json & messages, int64_t n_ctx) const {
    const chat_prompt::rendered r = render(messages);
    check_bytes(r.bytes, n_ctx, "messages");
    return ids_.encode(r);
}

std::string prompt_builder::text(const nlohmann::ordered_json & messages) const {
    return render(messages).text();
}

std::vector<int32_t> prompt_builder::completion(const completion_request & r, int64_t n_ctx) const {
    if (!r.prompt_is_ids) {
        check_bytes(r.prompt_text.size(), n_ctx, "prompt");
        return tok_.encode(r.prompt_text, true, true);
    }
    for (int32_t id : r.prompt_ids) {
        if (id >= tok_.n_vocab()) {
            throw bad_param(
                "prompt",
                fmt::format("Invalid 'prompt': token id {} is outside the vocabulary of {}.", id, tok_.n_vocab()),
                "invalid_value");
        }
    }
    return r.prompt_ids;
}

job make_job(const generation_request & g, std::vector<int32_t> prompt, int64_t n_ctx, const generation_defaults & d) {
    const auto n = static_cast<int64_t>(prompt.size());
    if (n == 0) {
        throw bad_param("prompt", "The prompt is empty.", "invalid_value");
    }
    if (n >= n_ctx) {
        throw api_error(400,
                        fmt::format("This model's maximum context length is {} tokens. However, your prompt is {} "
                                    "tokens, which leaves no room for a completion. Please reduce its length.",
                                    n_ctx, n),
                        "invalid_request_error", "messages", "context_length_exceeded");
    }
    if (g.max_tokens && n + *g.max_tokens > n_ctx) {
        throw api_error(
            400,
            fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                        "({} in the prompt, {} in the completion). Please reduce the prompt or the "
                        "completion length.",
                        n_ctx, n + *g.max_tokens, n, *g.max_tokens),
            "invalid_request_error", "max_tokens", "context_length_exceeded");
    }
    job j;
    j.prompt     = std::move(prompt);
    j.max_tokens = g.max_tokens ? *g.max_tokens : d.max_tokens > 0 ? std::min(d.max_tokens, n_ctx - n) : n_ctx - n;
    j.sampling   = d.sampling;
    if (g.temperature) {
        j.sampling.temperature = *g.temperature;
    }
    if (g.top_p) {
        j.sampling.top_p = *g.top_p;
    }
    if (g.min_p) {
        j.sampling.min_p = *g.min_p;
    }
    if (g.top_k) {
        j.sampling.top_k = *g.top_k;
    }
    j.sampling.seed = g.seed ? *g.seed : d.fixed_seed ? d.sampling.seed : fresh_seed();
    j.stop          = g.stop;
    j.top_logprobs  = g.top_logprobs;
    j.ignore_eos    = g.ignore_eos.value_or(d.ignore_eos);
    return j;
}

}  // namespace sluice::server
