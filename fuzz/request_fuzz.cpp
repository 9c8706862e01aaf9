// libFuzzer target for the HTTP request parser (src/server/request.cpp): any body given to
// POST /v1/chat/completions or /v1/completions must either parse or throw api_error (a 400);
// any other exception, a sanitizer report, a hang or a trap is a bug (the server would
// answer 500 or die).
#include "server/request.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string_view body(reinterpret_cast<const char *>(data), size);
    try {
        const sluice::server::chat_request r = sluice::server::parse_chat_request(body);
        (void)r.messages.dump();  // what the template receives must serialise
    } catch (const sluice::server::api_error &) {
    }
    try {
        (void)sluice::server::parse_completion_request(body);
    } catch (const sluice::server::api_error &) {
    }
    (void)sluice::server::is_valid_utf8(body);
    return 0;
}
