// jinja2's built-in filters that chat templates use, with jinja2 3.1's signatures and
// defaults; tojson is the one Hugging Face installs (ensure_ascii=False, key order kept).
#include "chat/args.h"
#include "chat/interp.h"
#include "chat/pystr.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace sluice::jinja {

namespace {

std::string text_of(const value & v) {
    return v.is_string() ? v.s : to_str(v);
}

// jinja2's attribute getter for map/selectattr/sort(attribute=...): dotted parts, each
// looked up as an item (digits as an integer index).
value attr_path(interpreter & in, const value & item, const std::string & path, size_t at) {
    value cur = item;
    for (const std::string & part : py_split(path, std::string("."), -1)) {
        const bool digits =
            !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits && part.size() < 18) {
            cur = in.get_item(cur, value::integer(std::stoll(part)), at);
        } else {
            cur = in.get_item(cur, value::string(part), at);
        }
    }
    return cur;
}

value f_length(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "length", {});
    return value::integer(static_cast<int64_t>(length(v)));
}

value f_string(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "string", {});
    return value::string(text_of(v));
}

value f_safe(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "safe", {});
    return v.is_string() ? v : value::string(to_str(v));
}

value f_trim(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "trim", {"chars"});
    return value::string(py_strip(text_of(v), b.str_opt(0), strip_side::BOTH));
}

value f_upper(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "upper", {});
    return value::string(ascii_upper(text_of(v)));
}
value f_lower(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "lower", {});
    return value::string(ascii_lower(text_of(v)));
}
value f_title(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "title", {});
    return value::string(py_title(text_of(v)));
}
value f_capitalize(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "capitalize", {});
    return value::string(py_capitalize(text_of(v)));
}

value f_default(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "default", {"default_value", "boolean"});
    if (v.is_undefined() || (b.bool_or(1, false) && !truthy(v))) {
        return b.get_or(0, value::string(""));
    }
    return v;
}

value f_first(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "first", {});
    const std::vector<value> items = in.iterate(v, a.at);
    return items.empty() ? value::undefined("No first item, sequence was empty.") : items.front();
}

value f_last(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "last", {});
    const std::vector<value> items = in.iterate(v, a.at);
    return items.empty() ? value::undefined("No last item, sequence was empty.") : items.back();
}

value f_join(interpreter & in, const value & v, const call_args & a) {
    const bound_args  b(in, a, "join", {"d", "attribute"});
    const std::string sep  = b.str_or(0, "");
    const auto        attr = b.str_opt(1);
    std::string       out;
    bool              first = true;
    for (const value & x : in.iterate(v, a.at)) {
        out += (first ? "" : sep) + text_of(attr ? attr_path(in, x, *attr, a.at) : x);
        first = false;
        if (out.size() > in.lim().max_bytes) {
            in.error(a.at, "join result too large");
        }
    }
    return value::string(std::move(out));
}

value f_list(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "list", {});
    return value::list(in.iterate(v, a.at));
}

value f_items(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "items", {});
    if (v.is_undefined()) {
        return value::list();
    }
    if (!v.is_dict()) {
        in.error(a.at, "items filter: can only get item pairs from a mapping, not " + type_name(v));
    }
    std::vector<value> out;
    for (const auto & [k, x] : v.d->items) {
        out.push_back(value::list({k, x}, true));
    }
    return value::list(std::move(out));
}

// The inverse of tojson, which real templates use on tool-call arguments that arrive as a JSON
// string. Nesting is bounded (the value is built recursively); key order is kept.
value f_from_json(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "from_json", {});
    if (!v.is_string()) {
        in.error(a.at, "from_json: expected a string, got " + to_repr(v));
    }
    constexpr int max_depth = 64;
    try {
        const auto parsed = nlohmann::ordered_json::parse(
            v.s, [&](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json &) {
                if (depth > max_depth) {
                    throw std::invalid_argument("nested deeper than 64");
                }
                return true;
            });
        return from_json(parsed);
    } catch (const std::exception & e) {
        in.error(a.at, std::string("from_json: not valid JSON (") + e.what() + ")");
    }
}

value f_tojson(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    if (b.bool_or(0, false)) {
        in.error(a.at, "tojson(ensure_ascii=True) is not supported");
    }
    json_style st;
    if (const value * ind = b.get(1); ind && !ind->is_none()) {
        if (ind->is_int_like()) {
            st.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(ind->as_int(), 0, 64)), ' ');
        } else if (ind->is_string()) {
            st.indent = ind->s;
        } else {
            in.error(a.at, "tojson(indent=...) must be an integer or a string");
        }
        st.item_sep = ",";  // Python's default separators once an indent is given
    }
    if (const value * sep = b.get(2); sep && !sep->is_none()) {
        if (!sep->is_list() || sep->l->size() != 2 || !(*sep->l)[0].is_string() || !(*sep->l)[1].is_string()) {
            in.error(a.at, "tojson(separators=...) must be a pair of strings");
        }
        st.item_sep = (*sep->l)[0].s;
        st.key_sep  = (*sep->l)[1].s;
    }
    st.sort_keys = b.bool_or(3, false);
    return value::string(to_json(v, st));
}

value f_replace(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "replace", {"old", "new", "count"});
    const value &    from = b.required(0);
    const value &    to   = b.required(1);
    return value::string(py_replace(text_of(v), text_of(from), text_of(to), b.int_or(2, -1)));
}

value f_int(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "int", {"default", "base"});
    const value      dflt = b.get_or(0, value::integer(0));
    if (v.is_int_like()) {
        return value::integer(v.as_int());
    }
    if (v.k == kind::FLOAT) {
        return std::isfinite(v.f) && std::fabs(v.f) < 9.2e18 ? value::integer(static_cast<int64_t>(v.f)) : dflt;
    }
    if (v.is_string()) {
        const std::string s    = py_strip(v.s, std::nullopt, strip_side::BOTH);
        size_t            used = 0;
        try {
            const long long r = std::stoll(s, &used, static_cast<int>(b.int_or(1, 10)));
            if (used == s.size()) {
                return value::integer(r);
            }
            const double d = std::stod(s, &used);
            if (used == s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) {
                return value::integer(static_cast<int64_t>(d));
            }
        } catch (const std::exception &) {
        }
    }
    return dflt;
}

value f_float(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "float", {"default"});
    if (v.is_number()) {
        return value::number(v.as_double());
    }
    if (v.is_string()) {
        const std::string s = py_strip(v.s, std::nullopt, strip_side::BOTH);
        try {
            size_t       used = 0;
            const double d    = std::stod(s, &used);
            if (used == s.size()) {
                return value::number(d);
            }
        } catch (const std::exception &) {
        }
    }
    return b.get_or(0, value::number(0.0));
}

value f_abs(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "abs", {});
    if (v.k == kind::FLOAT) {
        return value::number(std::fabs(v.f));
    }
    if (!v.is_int_like() || v.as_int() == INT64_MIN) {
        in.error(a.at, "bad operand type for abs(): '" + type_name(v) + "'");
    }
    return value::integer(std::abs(v.as_int()));
}

value f_round(interpreter & in, const value & v, const call_args & a) {
    const bound_args  b(in, a, "round", {"precision", "method"});
    const int64_t     precision = std::clamp<int64_t>(b.int_or(0, 0), -20, 20);
    const std::string method    = b.str_or(1, "common");
    if (!v.is_number()) {
        in.error(a.at, "round filter needs a number, got " + type_name(v));
    }
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double x     = v.as_double() * scale;
    double       r     = 0;
    if (method == "common") {
        r = std::nearbyint(x);  // Python's round(): halves go to the even neighbour
    } else if (method == "ceil") {
        r = std::ceil(x);
    } else if (method == "floor") {
        r = std::floor(x);
    } else {
        in.error(a.at, "round filter: method must be 'common', 'ceil' or 'floor'");
    }
    return value::number(r / scale);
}

value f_reverse(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "reverse", {});
    if (v.is_string()) {
        std::u32string u = to_u32(v.s);
        std::reverse(u.begin(), u.end());
        return value::string(to_utf8(u));
    }
    std::vector<value> items = in.iterate(v, a.at);
    std::reverse(items.begin(), items.end());
    return value::list(std::move(items));
}

// Sort keys: case-insensitive unless asked, as jinja2's sort/unique/dictsort/min/max.
value sort_key(const value & v, bool case_sensitive) {
    return (!case_sensitive && v.is_string()) ? value::string(ascii_lower(v.s)) : v;
}

value f_sort(interpreter & in, const value & v, const call_args & a) {
    const bound_args                     b(in, a, "sort", {"reverse", "case_sensitive", "attribute"});
    const bool                           rev   = b.bool_or(0, false);
    const bool                           cs    = b.bool_or(1, false);
    const auto                           attr  = b.str_opt(2);
    std::vector<value>                   items = in.iterate(v, a.at);
    std::vector<std::pair<value, value>> keyed;
    for (value & x : items) {
        keyed.emplace_back(sort_key(attr ? attr_path(in, x, *attr, a.at) : x, cs), std::move(x));
    }
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto & x, const auto & y) {
        return rev ? less(y.first, x.first) : less(x.first, y.first);
    });
    std::vector<value> out;
    for (auto & kv : keyed) {
        out.push_back(std::move(kv.second));
    }
    return value::list(std::move(out));
}

value f_dictsort(interpreter & in, const value & v, const call_args & a) {
    const bound_args  b(in, a, "dictsort", {"case_sensitive", "by", "reverse"});
    const bool        cs  = b.bool_or(0, false);
    const std::string by  = b.str_or(1, "key");
    const bool        rev = b.bool_or(2, false);
    if (!v.is_dict()) {
        in.error(a.at, "dictsort filter needs a mapping, got " + type_name(v));
    }
    if (by != "key" && by != "value") {
        in.error(a.at, "dictsort: you can only sort by either 'key' or 'value'");
    }
    std::vector<std::pair<value, value>> items = v.d->items;
    const size_t                         pos   = by == "key" ? 0 : 1;
    std::stable_sort(items.begin(), items.end(), [&](const auto & x, const auto & y) {
        const value kx = sort_key(pos == 0 ? x.first : x.second, cs);
        const value ky = sort_key(pos == 0 ? y.first : y.second, cs);
        return rev ? less(ky, kx) : less(kx, ky);
    });
    std::vector<value> out;
    for (auto & [k, x] : items) {
        out.push_back(value::list({k, x}, true));
    }
    return value::list(std::move(out));
}

value f_unique(interpreter & in, const value & v, const call_args & a) {
    const bound_args   b(in, a, "unique", {"case_sensitive", "attribute"});
    const bool         cs   = b.bool_or(0, false);
    const auto         attr = b.str_opt(1);
    std::vector<value> seen;
    std::vector<value> out;
    for (const value & x : in.iterate(v, a.at)) {
        const value key = sort_key(attr ? attr_path(in, x, *attr, a.at) : x, cs);
        if (std::none_of(seen.begin(), seen.end(), [&](const value & s) { return equals(s, key); })) {
            seen.push_back(key);
            out.push_back(x);
        }
    }
    return value::list(std::move(out));
}

value min_max(interpreter & in, const value & v, const call_args & a, bool want_max) {
    const bound_args     b(in, a, want_max ? "max" : "min", {"case_sensitive", "attribute"});
    const bool           cs   = b.bool_or(0, false);
    const auto           attr = b.str_opt(1);
    std::optional<value> best;
    value                best_key;
    for (const value & x : in.iterate(v, a.at)) {
        const value key = sort_key(attr ? attr_path(in, x, *attr, a.at) : x, cs);
        if (!best || (want_max ? less(best_key, key) : less(key, best_key))) {
            best     = x;
            best_key = key;
        }
    }
    return best ? *best : value::undefined(std::string("No aggregated item, sequence was empty."));
}
value f_min(interpreter & in, const value & v, const call_args & a) {
    return min_max(in, v, a, false);
}
value f_max(interpreter & in, const value & v, const call_args & a) {
    return min_max(in, v, a, true);
}

value f_sum(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "sum", {"attribute", "start"});
    const auto       attr = b.str_opt(0);
    value            acc  = b.get_or(1, value::integer(0));
    for (const value & x : in.iterate(v, a.at)) {
        acc = in.binary("+", acc, attr ? attr_path(in, x, *attr, a.at) : x, a.at);
    }
    return acc;
}

// select/reject/selectattr/rejectattr: keep the items whose test (truthiness when no test is
// named) gives `keep`.
value select_items(interpreter & in, const value & v, const call_args & a, bool keep, bool by_attr) {
    call_args rest;
    rest.at                      = a.at;
    size_t                     k = 0;
    std::optional<std::string> attr;
    if (by_attr) {
        if (a.pos.empty() || !a.pos[0].is_string()) {
            in.error(a.at, "selectattr/rejectattr need an attribute name");
        }
        attr = a.pos[k++].s;
    }
    const test_fn * test = nullptr;
    if (k < a.pos.size()) {
        if (!a.pos[k].is_string() || !(test = find_test(a.pos[k].s))) {
            in.error(a.at, "unknown test " + to_repr(a.pos[k]));
        }
        ++k;
    }
    rest.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(k), a.pos.end());
    rest.kw = a.kw;
    std::vector<value> out;
    for (const value & x : in.iterate(v, a.at)) {
        const value subject = attr ? attr_path(in, x, *attr, a.at) : x;
        const bool  hit     = test ? (*test)(in, subject, rest) : truthy(subject);
        if (hit == keep) {
            out.push_back(x);
        }
    }
    return value::list(std::move(out));
}
value f_select(interpreter & in, const value & v, const call_args & a) {
    return select_items(in, v, a, true, false);
}
value f_reject(interpreter & in, const value & v, const call_args & a) {
    return select_items(in, v, a, false, false);
}
value f_selectattr(interpreter & in, const value & v, const call_args & a) {
    return select_items(in, v, a, true, true);
}
value f_rejectattr(interpreter & in, const value & v, const call_args & a) {
    return select_items(in, v, a, false, true);
}

value f_map(interpreter & in, const value & v, const call_args & a) {
    std::vector<value> out;
    const auto attr = std::find_if(a.kw.begin(), a.kw.end(), [](const auto & kw) { return kw.first == "attribute"; });
    if (a.pos.empty() && attr != a.kw.end()) {
        const bound_args  b(in, a, "map", {"attribute", "default"});
        const std::string path = b.str_or(0, "");
        for (const value & x : in.iterate(v, a.at)) {
            value r = attr_path(in, x, path, a.at);
            out.push_back(r.is_undefined() && b.has(1) ? *b.get(1) : std::move(r));
        }
        return value::list(std::move(out));
    }
    if (a.pos.empty() || !a.pos[0].is_string()) {
        in.error(a.at, "map filter needs a filter name or attribute=...");
    }
    const filter_fn * f = find_filter(a.pos[0].s);
    if (!f) {
        in.error(a.at, "map: unknown filter '" + a.pos[0].s + "'");
    }
    call_args rest = a;
    rest.pos.erase(rest.pos.begin());
    for (const value & x : in.iterate(v, a.at)) {
        out.push_back((*f)(in, x, rest));
    }
    return value::list(std::move(out));
}

value f_attr(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "attr", {"name"});
    const value &    name = b.required(0);
    if (!name.is_string()) {
        in.error(a.at, "attr filter needs a string name");
    }
    return in.get_attr(v, name.s, a.at);
}

// str.splitlines(): the line breaks Python recognises.
std::vector<std::u32string> split_lines(const std::u32string & s) {
    std::vector<std::u32string> lines;
    std::u32string              cur;
    for (size_t k = 0; k < s.size(); ++k) {
        const char32_t c = s[k];
        if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
            c == 0x2028 || c == 0x2029) {
            if (c == '\r' && k + 1 < s.size() && s[k + 1] == '\n') {
                ++k;
            }
            lines.push_back(std::move(cur));
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) {
        lines.push_back(std::move(cur));
    }
    return lines;
}

value f_indent(interpreter & in, const value & v, const call_args & a) {
    const bound_args b(in, a, "indent", {"width", "first", "blank"});
    std::string      ind;
    if (const value * w = b.get(0); w && w->is_string()) {
        ind = w->s;
    } else {
        ind = std::string(static_cast<size_t>(std::clamp<int64_t>(b.int_or(0, 4), 0, 256)), ' ');
    }
    const bool           first = b.bool_or(1, false);
    const bool           blank = b.bool_or(2, false);
    const std::u32string ind32 = to_u32(ind);
    // jinja2 appends a newline before splitting, so a trailing newline is not kept.
    std::vector<std::u32string> lines = split_lines(to_u32(text_of(v)) + U"\n");
    std::u32string              out;
    for (size_t k = 0; k < lines.size(); ++k) {
        if (k > 0) {
            out += U"\n";
            if (blank || !lines[k].empty()) {
                out += ind32;
            }
        }
        out += lines[k];
        if (out.size() > in.lim().max_bytes) {
            in.error(a.at, "indent result too large");
        }
    }
    if (first) {
        out = ind32 + out;
    }
    return value::string(to_utf8(out));
}

value f_escape(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "escape", {});
    std::string out;
    for (char c : text_of(v)) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return value::string(std::move(out));
}

value f_wordcount(interpreter & in, const value & v, const call_args & a) {
    bound_args(in, a, "wordcount", {});
    return value::integer(static_cast<int64_t>(py_split(text_of(v), std::nullopt, -1).size()));
}

}  // namespace

const filter_fn * find_filter(std::string_view name) {
    static const std::unordered_map<std::string_view, filter_fn> filters = {
        {"abs", f_abs},
        {"attr", f_attr},
        {"capitalize", f_capitalize},
        {"count", f_length},
        {"d", f_default},
        {"default", f_default},
        {"dictsort", f_dictsort},
        {"e", f_escape},
        {"escape", f_escape},
        {"first", f_first},
        {"float", f_float},
        {"forceescape", f_escape},
        {"indent", f_indent},
        {"int", f_int},
        {"items", f_items},
        {"join", f_join},
        {"last", f_last},
        {"length", f_length},
        {"list", f_list},
        {"lower", f_lower},
        {"map", f_map},
        {"max", f_max},
        {"min", f_min},
        {"reject", f_reject},
        {"rejectattr", f_rejectattr},
        {"replace", f_replace},
        {"reverse", f_reverse},
        {"round", f_round},
        {"safe", f_safe},
        {"select", f_select},
        {"selectattr", f_selectattr},
        {"sort", f_sort},
        {"string", f_string},
        {"sum", f_sum},
        {"title", f_title},
        {"tojson", f_tojson},
        {"from_json", f_from_json},
        {"trim", f_trim},
        {"unique", f_unique},
        {"upper", f_upper},
        {"wordcount", f_wordcount},
    };
    const auto it = filters.find(name);
    return it == filters.end() ? nullptr : &it->second;
}

}  // namespace sluice::jinja
