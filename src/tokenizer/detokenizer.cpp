// Streaming detokenization: bytes of each token are appended to a small hold-back buffer and
// everything up to the last complete character is released. Decisions about a byte never
// depend on bytes after the end of a well-formed prefix, so the streamed text equals the
// repaired whole decode.
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace sluice {

detokenizer::detokenizer(const tokenizer & tok, bool special, bool continues)
    : tok_(tok), special_(special), at_start_(!continues) {}

std::string detokenizer::push(int32_t id) {
    std::string piece = tok_.token_bytes(id, special_);
    if (at_start_ && !piece.empty()) {
        at_start_ = false;
        if (tok_.strips_leading_space() && piece[0] == ' ') piece.erase(0, 1);
    }
    held_ += piece;
    size_t      keep = 0;
    std::string out  = utf8::repair(held_, false, &keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string detokenizer::flush() {
    std::string out = utf8::repair(held_, true);
    held_.clear();
    return out;
}

}  // namespace sluice
