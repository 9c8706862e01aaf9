// Parsing and validating the bodies of POST /v1/chat/completions and /v1/completions into
// plain structs. Shapes and types follow the OpenAI API: a wrong type or a value out of range
// is a 400 naming the parameter, null means "not given", unknown fields are ignored. Nothing
// here knows the model; prompt length and model name are checked later (api.h).
#pragma once

#include "experts/routing_controls.h"
#include "server/api_error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::server {

// What both endpoints share: the model name, streaming, length, sampling and logprobs.
struct generation_request {
    std::string              model;
    bool                     stream        = false;
    bool                     include_usage = false;  // stream_options.include_usage
    std::optional<int64_t>   max_tokens;             // max_tokens or max_completion_tokens
    std::optional<float>     temperature, top_p;     // OpenAI's ranges: [0, 2], [0, 1]
    std::optional<float>     min_p;                  // llama.cpp-style extensions
    std::optional<int32_t>   top_k;
    std::optional<uint64_t>  seed;
    std::optional<bool>      ignore_eos;         // llama-server's: generate max_tokens, past the end token
    std::vector<std::string> stop;               // at most 4, none empty
    int                      top_logprobs = -1;  // < 0: no logprobs; else alternatives per token
    // The "sluice" extension object: routing controls for this request (replacing the
    // server's when any is given) and whether to return each token's routed experts.
    std::optional<routing_request> routing;
    bool                           return_routed_experts = false;
};

struct chat_request {
    generation_request gen;
    // The messages as the template sees them: every content is a string ("" for null; text
    // parts joined), "developer" renamed "system"; other fields kept as given.
    nlohmann::ordered_json messages;
};

struct completion_request {
    generation_request   gen;
    bool                 prompt_is_ids = false;
    std::string          prompt_text;
    std::vector<int32_t> prompt_ids;
    bool                 echo = false;  // prepend the prompt to the returned text
};

// llama-server's utility endpoints: POST /tokenize, /detokenize, /apply-template.
struct tokenize_request {
    std::string content;
    bool        add_special   = false;  // BOS/EOS as the tokenizer adds them
    bool        parse_special = true;   // control-token text becomes control tokens
    bool        with_pieces   = false;  // each id with its text
};

// Throw api_error (400) on malformed JSON, invalid UTF-8, wrong types or values out of range.
chat_request           parse_chat_request(std::string_view body);
completion_request     parse_completion_request(std::string_view body);
tokenize_request       parse_tokenize_request(std::string_view body);
std::vector<int32_t>   parse_detokenize_request(std::string_view body);      // "tokens"
nlohmann::ordered_json parse_apply_template_request(std::string_view body);  // "messages", as chat's

// Whether bytes are well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace sluice::server
