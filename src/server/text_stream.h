// The text a client sees for a stream of generated tokens: whole UTF-8 characters only
// (the tokenizer's detokenizer), cut before the first stop string, and holding back any
// tail that could still become a stop string so that no part of one is ever sent.
#pragma once

#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::server {

class text_stream {
  public:
    text_stream(const tokenizer & tok, std::vector<std::string> stop);

    // Adds a token and returns the text that may be sent now. Once a stop string appears,
    // stopped() is true and the text ends just before it; later calls return "".
    std::string push(int32_t id);
    // The end of generation: everything still held back (an incomplete character repaired).
    std::string finish();
    bool        stopped() const { return stopped_; }

  private:
    // Sends what cannot be part of a stop string any more; sets stopped_ on a match.
    std::string release(bool at_end);

    detokenizer              detok_;
    std::vector<std::string> stop_;
    std::string              pending_;  // decoded, not yet sent
    bool                     stopped_ = false;
};

}  // namespace sluice::server
