#include "server/text_stream.h"

#include <algorithm>

namespace sluice::server {

// Generated text always follows a prompt: a leading space of the first token is part of the
// answer ("The GNU" + " General"), not the dummy prefix of a text start.
text_stream::text_stream(const tokenizer & tok, std::vector<std::string> stop)
    : detok_(tok, false, true), stop_(std::move(stop)) {}

std::string text_stream::push(int32_t id) {
    if (stopped_) {
        return "";
    }
    pending_ += detok_.push(id);
    return release(false);
}

std::string text_stream::finish() {
    if (stopped_) {
        return "";
    }
    pending_ += detok_.flush();
    return release(true);
}

std::string text_stream::release(bool at_end) {
    size_t cut = std::string::npos;  // the earliest stop string in what is pending
    for (const std::string & s : stop_) {
        cut = std::min(cut, pending_.find(s));
    }
    if (cut != std::string::npos) {
        stopped_        = true;
        std::string out = pending_.substr(0, cut);
        pending_.clear();
        return out;
    }
    // Hold back the longest tail that is a proper prefix of some stop string. Stop strings
    // are valid UTF-8, so such a tail never starts inside a character.
    size_t keep = 0;
    if (!at_end) {
        for (const std::string & s : stop_) {
            for (size_t len = std::min(s.size() - 1, pending_.size()); len > keep; --len) {
                if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                    keep = len;
                    break;
                }
            }
        }
    }
    std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return out;
}

}  // namespace sluice::server
