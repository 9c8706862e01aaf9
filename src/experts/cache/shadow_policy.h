// Fate's lower-precision IO: the routed experts written again in a smaller type (a shadow
// file, `sluice quantize --expert-shadow TYPE`), read instead of the exact ones where a cheap,
// approximate copy serves. Lossy: measure what it costs with `perplexity --kl-base`.
#pragma once

#include <string_view>

namespace sluice {

// Which reads of the expert cache go to the shadow file.
enum class shadow_policy {
    NONE,         // none: the file's experts only (exact)
    COLD,         // demand misses; a shadow copy asked for again while cached is read exact
    SPECULATIVE,  // the predictor's guesses; a guessed copy asked for again is read exact
    ALL,          // every read, and slots are sized for the shadow, so more fit
};

shadow_policy    parse_shadow_policy(std::string_view name);  // throws listing the names
std::string_view name_of(shadow_policy p);

}  // namespace sluice
