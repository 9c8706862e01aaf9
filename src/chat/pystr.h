// Python str semantics over UTF-8 bytes: templates index, slice and measure strings in code
// points (len("héllo") is 5), and str.strip() with no argument removes Unicode whitespace.
// Case mapping is ASCII-only (a documented limitation: chat templates apply it to role names
// and keywords).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::jinja {

std::u32string to_u32(std::string_view s);  // invalid bytes become U+FFFD
std::string    to_utf8(std::u32string_view s);
void           append_utf8(std::string & out, char32_t c);
bool           is_ascii(std::string_view s);
size_t         code_points(std::string_view s);
bool           py_isspace(char32_t c);

enum class strip_side { LEFT, RIGHT, BOTH };
// str.strip(chars): chars unset strips whitespace.
std::string py_strip(std::string_view s, const std::optional<std::string> & chars, strip_side side);
// str.split(sep, maxsplit); sep unset splits on whitespace runs and drops empty parts.
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string> & sep, int64_t maxsplit);
std::string              py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
std::string              ascii_upper(std::string_view s);
std::string              ascii_lower(std::string_view s);
std::string              py_title(std::string_view s);       // str.title()
std::string              py_capitalize(std::string_view s);  // str.capitalize()

// Python's slice resolution: fills the indices that s[start:stop:step] visits over a
// sequence of n items. step must not be 0.
std::vector<int64_t> slice_indices(int64_t n, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step);

}  // namespace sluice::jinja
