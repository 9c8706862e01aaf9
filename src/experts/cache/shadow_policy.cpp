#include "experts/cache/shadow_policy.h"

#include "util/error.h"

namespace sluice {

shadow_policy parse_shadow_policy(std::string_view name) {
    if (name == "none") {
        return shadow_policy::NONE;
    }
    if (name == "cold") {
        return shadow_policy::COLD;
    }
    if (name == "speculative") {
        return shadow_policy::SPECULATIVE;
    }
    if (name == "all") {
        return shadow_policy::ALL;
    }
    fail("unknown shadow policy '{}' (expected cold, speculative or all)", name);
}

std::string_view name_of(shadow_policy p) {
    switch (p) {
        case shadow_policy::NONE:
            return "none";
        case shadow_policy::COLD:
            return "cold";
        case shadow_policy::SPECULATIVE:
            return "speculative";
        case shadow_policy::ALL:
            return "all";
    }
    return "?";
}

}  // namespace sluice
