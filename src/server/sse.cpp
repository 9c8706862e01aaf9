#include "server/sse.h"

namespace sluice::server {

std::string dump_json(const nlohmann::ordered_json & j) {
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string sse_event(const nlohmann::ordered_json & j) {
    return "data: " + dump_json(j) + "\n\n";
}

std::string sse_done() {
    return "data: [DONE]\n\n";
}

}  // namespace sluice::server
