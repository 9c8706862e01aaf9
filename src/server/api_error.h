// Errors as the OpenAI API reports them: an HTTP status and a JSON body
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// Request handling throws api_error; the HTTP layer turns it into that response (or, once
// a stream has started, into an SSE error event).
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace sluice::server {

class api_error : public std::runtime_error {
  public:
    api_error(int status, std::string message, std::string type = "invalid_request_error", std::string param = "",
              std::string code = "")
        : std::runtime_error(message),
          status_(status),
          type_(std::move(type)),
          param_(std::move(param)),
          code_(std::move(code)) {}

    int                 status() const { return status_; }
    const std::string & type() const { return type_; }
    const std::string & param() const { return param_; }  // "" -> null
    const std::string & code() const { return code_; }    // "" -> null

    // {"error": {...}}; empty param/code become null, as OpenAI sends them.
    nlohmann::json to_json() const;

  private:
    int         status_;
    std::string type_, param_, code_;
};

// 400 invalid_request_error naming the offending parameter.
api_error bad_param(const std::string & param, const std::string & message, const std::string & code = "");

}  // namespace sluice::server
