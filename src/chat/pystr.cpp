// Python string operations over UTF-8 (see pystr.h).
#include "chat/pystr.h"

#include <algorithm>

namespace sluice::jinja {

std::u32string to_u32(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t k = 0;
    while (k < s.size()) {
        const auto c0 = static_cast<unsigned char>(s[k]);
        int        n  = 0;
        char32_t   cp = 0;
        if (c0 < 0x80) {
            cp = c0;
        } else if ((c0 & 0xE0) == 0xC0) {
            n  = 1;
            cp = c0 & 0x1F;
        } else if ((c0 & 0xF0) == 0xE0) {
            n  = 2;
            cp = c0 & 0x0F;
        } else if ((c0 & 0xF8) == 0xF0) {
            n  = 3;
            cp = c0 & 0x07;
        } else {
            out.push_back(0xFFFD);
            ++k;
            continue;
        }
        bool ok = k + static_cast<size_t>(n) < s.size();
        for (int j = 1; ok && j <= n; ++j) {
            const auto cj = static_cast<unsigned char>(s[k + j]);
            if ((cj & 0xC0) != 0x80) {
                ok = false;
            } else {
                cp = (cp << 6) | (cj & 0x3F);
            }
        }
        if (!ok) {
            out.push_back(0xFFFD);
            ++k;
            continue;
        }
        out.push_back(cp);
        k += static_cast<size_t>(n) + 1;
    }
    return out;
}

void append_utf8(std::string & out, char32_t c) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | ((c >> 18) & 0x07)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

std::string to_utf8(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) {
        append_utf8(out, c);
    }
    return out;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

size_t code_points(std::string_view s) {
    return is_ascii(s) ? s.size() : to_u32(s).size();
}

// The code points for which Python's str.isspace() is true.
bool py_isspace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string py_strip(std::string_view s, const std::optional<std::string> & chars, strip_side side) {
    const std::u32string u   = to_u32(s);
    const std::u32string set = chars ? to_u32(*chars) : std::u32string();
    auto   strip_it          = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : py_isspace(c); };
    size_t b                 = 0;
    size_t e                 = u.size();
    if (side != strip_side::RIGHT) {
        while (b < e && strip_it(u[b])) {
            ++b;
        }
    }
    if (side != strip_side::LEFT) {
        while (e > b && strip_it(u[e - 1])) {
            --e;
        }
    }
    return to_utf8(std::u32string_view(u).substr(b, e - b));
}

std::vector<std::string> py_split(std::string_view s, const std::optional<std::string> & sep, int64_t maxsplit) {
    std::vector<std::string> parts;
    if (sep) {
        size_t start = 0;
        while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
            const size_t p = s.find(*sep, start);
            if (p == std::string_view::npos) {
                break;
            }
            parts.emplace_back(s.substr(start, p - start));
            start = p + sep->size();
        }
        parts.emplace_back(s.substr(start));
        return parts;
    }
    const std::u32string u = to_u32(s);
    size_t               k = 0;
    while (k < u.size()) {
        while (k < u.size() && py_isspace(u[k])) {
            ++k;
        }
        if (k == u.size()) {
            break;
        }
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
            // The rest, with its trailing whitespace removed, is the last part.
            size_t e = u.size();
            while (e > k && py_isspace(u[e - 1])) {
                --e;
            }
            parts.push_back(to_utf8(std::u32string_view(u).substr(k, e - k)));
            break;
        }
        size_t e = k;
        while (e < u.size() && !py_isspace(u[e])) {
            ++e;
        }
        parts.push_back(to_utf8(std::u32string_view(u).substr(k, e - k)));
        k = e;
    }
    return parts;
}

std::string py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
    std::string out;
    if (from.empty()) {
        // Python inserts `to` before every code point and at the end.
        const std::u32string u = to_u32(s);
        int64_t              n = 0;
        for (char32_t c : u) {
            if (count < 0 || n < count) {
                out.append(to);
                ++n;
            }
            append_utf8(out, c);
        }
        if (count < 0 || n < count) {
            out.append(to);
        }
        return out;
    }
    size_t  start = 0;
    int64_t n     = 0;
    while (count < 0 || n < count) {
        const size_t p = s.find(from, start);
        if (p == std::string_view::npos) {
            break;
        }
        out.append(s.substr(start, p - start));
        out.append(to);
        start = p + from.size();
        ++n;
    }
    out.append(s.substr(start));
    return out;
}

std::string ascii_upper(std::string_view s) {
    std::string out(s);
    for (char & c : out) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return out;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char & c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

namespace {
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}
}  // namespace

std::string py_title(std::string_view s) {
    // A letter after a non-letter starts a word: upper-case it, lower-case the rest.
    std::string out(s);
    bool        prev_alpha = false;
    for (char & c : out) {
        if (is_alpha(c)) {
            if (c >= 'a' && c <= 'z' && !prev_alpha) {
                c = static_cast<char>(c - 'a' + 'A');
            } else if (c >= 'A' && c <= 'Z' && prev_alpha) {
                c = static_cast<char>(c - 'A' + 'a');
            }
            prev_alpha = true;
        } else {
            prev_alpha = false;
        }
    }
    return out;
}

std::string py_capitalize(std::string_view s) {
    std::string out = ascii_lower(s);
    if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') {
        out[0] = static_cast<char>(out[0] - 'a' + 'A');
    }
    return out;
}

std::vector<int64_t> slice_indices(int64_t n, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
    // CPython's PySlice_AdjustIndices. A step longer than the sequence visits one item, so
    // clamping it keeps the index arithmetic below from overflowing.
    step = std::clamp<int64_t>(step, -n - 1, n + 1);
    if (step == 0) {
        step = 1;
    }
    auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
        if (!v) {
            return dflt;
        }
        int64_t x = *v;
        if (x < 0) {
            x += n;
            if (x < 0) {
                x = step < 0 ? -1 : 0;
            }
        } else if (x >= n) {
            x = step < 0 ? n - 1 : n;
        }
        return x;
    };
    const int64_t        b = adjust(start, step < 0 ? n - 1 : 0);
    const int64_t        e = adjust(stop, step < 0 ? -1 : n);
    std::vector<int64_t> out;
    if (step > 0) {
        for (int64_t k = b; k < e; k = (e - k > step) ? k + step : e) {
            out.push_back(k);
        }
    } else {
        for (int64_t k = b; k > e; k = (k - e > -step) ? k + step : e) {
            out.push_back(k);
        }
    }
    return out;
}

}  // namespace sluice::jinja
