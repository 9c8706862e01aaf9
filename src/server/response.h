// The response bodies of the OpenAI API: chat.completion and its stream chunks,
// text_completion (whole and streamed), usage, and the two logprobs shapes (chat's
// per-token objects, the legacy completions arrays).
#pragma once

#include "server/channel.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::server {

using ojson = nlohmann::ordered_json;

// What every object of one response shares.
struct response_meta {
    std::string id;       // chatcmpl-... / cmpl-...
    int64_t     created;  // Unix seconds
    std::string model;
};

response_meta make_meta(const char * id_prefix, const std::string & model);

ojson usage_json(const job_usage & u);

// choices[].logprobs of chat: {"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}.
ojson chat_logprobs(const tokenizer & tok, const std::vector<token_logprob> & lps);
// choices[].logprobs of completions: {tokens, token_logprobs, top_logprobs, text_offset};
// text_offset counts bytes from the start of the returned text (offset0 for the first token).
ojson completion_logprobs(const tokenizer & tok, const std::vector<token_logprob> & lps, int64_t offset0);

ojson chat_response(const response_meta & m, const std::string & text, const std::string & finish, const job_usage & u,
                    const ojson & logprobs);
// delta: {"role": "assistant", "content": ""} first, then {"content": text}, then {} with the
// finish reason. usage is sent as null on every chunk when the client asked for it at the end.
ojson chat_chunk(const response_meta & m, const ojson & delta, const std::optional<std::string> & finish,
                 const ojson & logprobs, bool usage_null);
ojson completion_response(const response_meta & m, const std::string & text, const std::string & finish,
                          const job_usage & u, const ojson & logprobs);
ojson completion_chunk(const response_meta & m, const std::string & text, const std::optional<std::string> & finish,
                       const ojson & logprobs, bool usage_null);
// choices[].sluice.routed_experts: per token, per MoE layer {"layer", "experts", "weights"}.
ojson routed_experts_json(const std::vector<routed_token> & tokens);

// The last chunk with include_usage: no choices, only usage.
ojson usage_chunk(const response_meta & m, bool chat, const job_usage & u);

}  // namespace sluice::server
