// Parsing a user's memory budget: "512M", "2G", "1.5GiB", "123456" (bytes) or "25%" (of a
// total the caller gives, here the routed-expert bytes).
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice {

// Throws sluice::error naming `flag` and the text when it is not a size or a percentage in
// (0, 100].
uint64_t parse_budget(std::string_view text, uint64_t total_bytes, std::string_view flag = "--expert-budget");

}  // namespace sluice
