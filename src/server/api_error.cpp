#include "server/api_error.h"

namespace sluice::server {

nlohmann::json api_error::to_json() const {
    nlohmann::json e = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
    if (!param_.empty()) {
        e["param"] = param_;
    }
    if (!code_.empty()) {
        e["code"] = code_;
    }
    return {{"error", e}};
}

api_error bad_param(const std::string & param, const std::string & message, const std::string & code) {
    return api_error(400, message, "invalid_request_error", param, code);
}

}  // namespace sluice::server
