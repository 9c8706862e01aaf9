// Values to JSON text (Python's json.dumps as the tojson filter calls it) and JSON documents
// to values.
#include "chat/value.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice::jinja {

namespace {

constexpr int k_max_depth = 128;  // as for printing: deeper is absurd or self-containing

void dump_string(std::string & out, std::string_view s) {
    out.push_back('"');
    for (char ch : s) {
        switch (ch) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (static_cast<unsigned char>(ch) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(ch));
                    out += buf;
                } else {
                    out.push_back(ch);  // ensure_ascii=False: UTF-8 passes through
                }
        }
    }
    out.push_back('"');
}

std::string float_json(double f) {
    if (std::isnan(f)) {
        return "NaN";
    }
    if (std::isinf(f)) {
        return f < 0 ? "-Infinity" : "Infinity";
    }
    return py_float_repr(f);
}

// Python converts scalar keys to strings and refuses containers as keys.
std::string key_text(const value & k) {
    switch (k.k) {
        case kind::STRING:
            return k.s;
        case kind::INT:
            return std::to_string(k.i);
        case kind::BOOL:
            return k.b ? "true" : "false";
        case kind::NONE:
            return "null";
        case kind::FLOAT:
            return float_json(k.f);
        default:
            fail("tojson: keys must be str, int, float, bool or None, not {}", type_name(k));
    }
}

void dump(std::string & out, const value & v, const json_style & st, int depth) {
    if (depth > k_max_depth) {
        fail("tojson: value nested deeper than {} levels", k_max_depth);
    }
    auto newline = [&](int level) {
        if (st.indent) {
            out.push_back('\n');
            for (int k = 0; k < level; ++k) {
                out += *st.indent;
            }
        }
    };
    switch (v.k) {
        case kind::NONE:
            out += "null";
            return;
        case kind::BOOL:
            out += v.b ? "true" : "false";
            return;
        case kind::INT:
            out += std::to_string(v.i);
            return;
        case kind::FLOAT:
            out += float_json(v.f);
            return;
        case kind::STRING:
            dump_string(out, v.s);
            return;
        case kind::LIST: {
            if (v.l->empty()) {
                out += "[]";
                return;
            }
            out.push_back('[');
            for (size_t k = 0; k < v.l->size(); ++k) {
                if (k) {
                    out += st.item_sep;
                }
                newline(depth + 1);
                dump(out, (*v.l)[k], st, depth + 1);
            }
            newline(depth);
            out.push_back(']');
            return;
        }
        case kind::DICT: {
            if (v.d->items.empty()) {
                out += "{}";
                return;
            }
            std::vector<std::pair<std::string, const value *>> items;
            for (const auto & [k, x] : v.d->items) {
                items.emplace_back(key_text(k), &x);
            }
            if (st.sort_keys) {
                std::stable_sort(items.begin(), items.end(),
                                 [](const auto & a, const auto & b) { return a.first < b.first; });
            }
            out.push_back('{');
            for (size_t k = 0; k < items.size(); ++k) {
                if (k) {
                    out += st.item_sep;
                }
                newline(depth + 1);
                dump_string(out, items[k].first);
                out += st.key_sep;
                dump(out, *items[k].second, st, depth + 1);
            }
            newline(depth);
            out.push_back('}');
            return;
        }
        default:
            fail("tojson: Object of type {} is not JSON serializable", type_name(v));
    }
}

template <typename J>
value convert(const J & j, int depth) {
    if (depth > k_max_depth) {
        fail("chat template input: JSON nested deeper than {} levels", k_max_depth);
    }
    switch (j.type()) {
        case J::value_t::null:
            return value::none();
        case J::value_t::boolean:
            return value::boolean(j.template get<bool>());
        case J::value_t::number_integer:
            return value::integer(j.template get<int64_t>());
        case J::value_t::number_unsigned: {
            const auto u = j.template get<uint64_t>();
            return u <= static_cast<uint64_t>(INT64_MAX) ? value::integer(static_cast<int64_t>(u))
                                                         : value::number(static_cast<double>(u));
        }
        case J::value_t::number_float:
            return value::number(j.template get<double>());
        case J::value_t::string:
            return value::string(j.template get<std::string>());
        case J::value_t::array: {
            std::vector<value> items;
            items.reserve(j.size());
            for (const auto & x : j) {
                items.push_back(convert(x, depth + 1));
            }
            return value::list(std::move(items));
        }
        case J::value_t::object: {
            value d = value::new_dict();
            for (auto it = j.begin(); it != j.end(); ++it) {
                d.d->set(it.key(), convert(it.value(), depth + 1));
            }
            return d;
        }
        default:
            fail("chat template input: unsupported JSON value (binary or discarded)");
    }
}

}  // namespace

std::string to_json(const value & v, const json_style & style) {
    std::string out;
    dump(out, v, style, 0);
    return out;
}

value from_json(const nlohmann::json & j) {
    return convert(j, 0);
}

value from_json(const nlohmann::ordered_json & j) {
    return convert(j, 0);
}

}  // namespace sluice::jinja
