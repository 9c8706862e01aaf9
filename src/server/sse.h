// Server-sent events as OpenAI streams them: each chunk is one "data: <json>\n\n" event, the
// stream ends with "data: [DONE]\n\n", and an error after the stream started is a data event
// holding {"error": {...}} (the openai clients raise it as an APIError).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace sluice::server {

// Compact JSON with no raw newlines; invalid UTF-8 (a token's partial bytes) becomes U+FFFD
// instead of an exception.
std::string dump_json(const nlohmann::ordered_json & j);

std::string sse_event(const nlohmann::ordered_json & j);
std::string sse_done();

}  // namespace sluice::server
