// Python semantics of values: truthiness, str/repr, equality, ordering, len, json.dumps.
#include "chat/value.h"

#include "chat/pystr.h"
#include "util/error.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

namespace sluice::jinja {

namespace {
// Containers nest at most this deep when printed, compared or dumped: deeper is either an
// absurd input or a list that contains itself.
constexpr int k_max_depth = 128;

void check_depth(int depth) {
    if (depth > k_max_depth) {
        fail("value nested deeper than {} levels (a container that contains itself?)", k_max_depth);
    }
}
}  // namespace

value value::undefined(std::string what) {
    value v;
    v.s = std::move(what);
    return v;
}
value value::none() {
    value v;
    v.k = kind::NONE;
    return v;
}
value value::boolean(bool x) {
    value v;
    v.k = kind::BOOL;
    v.b = x;
    return v;
}
value value::integer(int64_t x) {
    value v;
    v.k = kind::INT;
    v.i = x;
    return v;
}
value value::number(double x) {
    value v;
    v.k = kind::FLOAT;
    v.f = x;
    return v;
}
value value::string(std::string x) {
    value v;
    v.k = kind::STRING;
    v.s = std::move(x);
    return v;
}
value value::list(std::vector<value> items, bool is_tuple) {
    value v;
    v.k     = kind::LIST;
    v.l     = std::make_shared<std::vector<value>>(std::move(items));
    v.tuple = is_tuple;
    return v;
}
value value::new_dict() {
    value v;
    v.k = kind::DICT;
    v.d = std::make_shared<dict>();
    return v;
}
value value::new_namespace() {
    value v = new_dict();
    v.k     = kind::NAMESPACE;
    return v;
}

const value * dict::find(std::string_view key) const {
    const auto it = index.find(std::string(key));
    return it == index.end() ? nullptr : &items[it->second].second;
}

const value * dict::find(const value & key) const {
    if (key.is_string()) {
        return find(key.s);
    }
    for (const auto & [k, v] : items) {
        if (!k.is_string() && equals(k, key)) {
            return &v;
        }
    }
    return nullptr;
}

void dict::set(const value & key, value v) {
    if (key.is_string()) {
        const auto it = index.find(key.s);
        if (it != index.end()) {
            items[it->second].second = std::move(v);
            return;
        }
        index.emplace(key.s, items.size());
        items.emplace_back(key, std::move(v));
        return;
    }
    for (auto & [k, old] : items) {
        if (!k.is_string() && equals(k, key)) {
            old = std::move(v);
            return;
        }
    }
    items.emplace_back(key, std::move(v));
}

bool reaches(const value & from, const void * target) {
    std::vector<const value *>       todo{&from};
    std::unordered_set<const void *> seen;
    while (!todo.empty()) {
        const value * v = todo.back();
        todo.pop_back();
        if (v->k == kind::LIST && v->l) {
            if (v->l.get() == target) {
                return true;
            }
            if (seen.insert(v->l.get()).second) {
                for (const value & x : *v->l) {
                    todo.push_back(&x);
                }
            }
        } else if ((v->k == kind::DICT || v->k == kind::NAMESPACE) && v->d) {
            if (v->d.get() == target) {
                return true;
            }
            if (seen.insert(v->d.get()).second) {
                for (const auto & [key, x] : v->d->items) {
                    todo.push_back(&key);
                    todo.push_back(&x);
                }
            }
        }
    }
    return false;
}

bool truthy(const value & v) {
    switch (v.k) {
        case kind::UNDEFINED:
        case kind::NONE:
            return false;
        case kind::BOOL:
            return v.b;
        case kind::INT:
            return v.i != 0;
        case kind::FLOAT:
            return v.f != 0.0;
        case kind::STRING:
            return !v.s.empty();
        case kind::LIST:
            return !v.l->empty();
        case kind::DICT:
            return !v.d->items.empty();
        case kind::NAMESPACE:
        case kind::CALLABLE:
            return true;
    }
    return false;
}

std::string type_name(const value & v) {
    switch (v.k) {
        case kind::UNDEFINED:
            return "Undefined";
        case kind::NONE:
            return "NoneType";
        case kind::BOOL:
            return "bool";
        case kind::INT:
            return "int";
        case kind::FLOAT:
            return "float";
        case kind::STRING:
            return "str";
        case kind::LIST:
            return v.tuple ? "tuple" : "list";
        case kind::DICT:
            return "dict";
        case kind::NAMESPACE:
            return "Namespace";
        case kind::CALLABLE:
            return "function";
    }
    return "object";
}

std::string py_float_repr(double v) {
    if (std::isnan(v)) {
        return "nan";
    }
    if (std::isinf(v)) {
        return v < 0 ? "-inf" : "inf";
    }
    // Shortest round-trip digits and exponent, then Python's layout: positional for
    // 1e-4 <= |v| < 1e16, otherwise d.ddde+XX.
    char         buf[64];
    const auto   r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string  sci(buf, r.ptr);
    const size_t epos = sci.find('e');
    std::string  mant = sci.substr(0, epos);
    const int    exp  = std::stoi(sci.substr(epos + 1));
    std::string  sign;
    if (mant[0] == '-') {
        sign = "-";
        mant.erase(0, 1);
    }
    std::string digits;
    for (char c : mant) {
        if (c != '.') {
            digits.push_back(c);
        }
    }
    if (exp >= -4 && exp < 16) {
        std::string out;
        if (exp < 0) {
            out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
        } else if (static_cast<int>(digits.size()) <= exp + 1) {
            out = digits + std::string(static_cast<size_t>(exp + 1) - digits.size(), '0') + ".0";
        } else {
            out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
        }
        return sign + out;
    }
    std::string out = digits.substr(0, 1);
    if (digits.size() > 1) {
        out += "." + digits.substr(1);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return sign + out + ebuf;
}

namespace {

std::string repr_string(const std::string & s) {
    const bool  has_single = s.find('\'') != std::string::npos;
    const bool  has_double = s.find('"') != std::string::npos;
    const char  quote      = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == quote || ch == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (ch == '\n') {
            out += "\\n";
        } else if (ch == '\r') {
            out += "\\r";
        } else if (ch == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out.push_back(ch);
        }
    }
    out.push_back(quote);
    return out;
}

std::string repr_at(const value & v, int depth) {
    check_depth(depth);
    switch (v.k) {
        case kind::STRING:
            return repr_string(v.s);
        case kind::LIST: {
            std::string out = v.tuple ? "(" : "[";
            for (size_t k = 0; k < v.l->size(); ++k) {
                out += (k ? ", " : "") + repr_at((*v.l)[k], depth + 1);
            }
            if (v.tuple && v.l->size() == 1) {
                out += ",";
            }
            return out + (v.tuple ? ")" : "]");
        }
        case kind::DICT: {
            std::string out   = "{";
            bool        first = true;
            for (const auto & [k, x] : v.d->items) {
                out += (first ? "" : ", ") + repr_at(k, depth + 1) + ": " + repr_at(x, depth + 1);
                first = false;
            }
            return out + "}";
        }
        case kind::NAMESPACE:
            return "<Namespace>";
        case kind::CALLABLE:
            return "<function " + v.c->name + ">";
        default:
            return to_str(v);
    }
}

}  // namespace

std::string to_str(const value & v) {
    switch (v.k) {
        case kind::UNDEFINED:
            return "";
        case kind::NONE:
            return "None";
        case kind::BOOL:
            return v.b ? "True" : "False";
        case kind::INT:
            return std::to_string(v.i);
        case kind::FLOAT:
            return py_float_repr(v.f);
        case kind::STRING:
            return v.s;
        default:
            return repr_at(v, 0);
    }
}

std::string to_repr(const value & v) {
    return repr_at(v, 0);
}

bool equals(const value & a, const value & b, int depth) {
    check_depth(depth);
    if (a.is_number() && b.is_number()) {
        if (a.k == kind::FLOAT || b.k == kind::FLOAT) {
            return a.as_double() == b.as_double();
        }
        return a.as_int() == b.as_int();
    }
    if (a.k != b.k) {
        return false;
    }
    switch (a.k) {
        case kind::UNDEFINED:
        case kind::NONE:
            return true;
        case kind::STRING:
            return a.s == b.s;
        case kind::LIST:
            if (a.l->size() != b.l->size()) {
                return false;
            }
            for (size_t k = 0; k < a.l->size(); ++k) {
                if (!equals((*a.l)[k], (*b.l)[k], depth + 1)) {
                    return false;
                }
            }
            return true;
        case kind::DICT:
            if (a.d->items.size() != b.d->items.size()) {
                return false;
            }
            for (const auto & [k, x] : a.d->items) {
                const value * y = b.d->find(k);
                if (!y || !equals(x, *y, depth + 1)) {
                    return false;
                }
            }
            return true;
        case kind::NAMESPACE:
            return a.d == b.d;
        case kind::CALLABLE:
            return a.c == b.c;
        default:
            return false;
    }
}

bool less(const value & a, const value & b) {
    if (a.is_number() && b.is_number()) {
        if (a.k == kind::FLOAT || b.k == kind::FLOAT) {
            return a.as_double() < b.as_double();
        }
        return a.as_int() < b.as_int();
    }
    if (a.is_string() && b.is_string()) {
        return a.s < b.s;  // UTF-8 byte order is code point order
    }
    if (a.is_list() && b.is_list()) {
        const size_t n = std::min(a.l->size(), b.l->size());
        for (size_t k = 0; k < n; ++k) {
            if (!equals((*a.l)[k], (*b.l)[k])) {
                return less((*a.l)[k], (*b.l)[k]);
            }
        }
        return a.l->size() < b.l->size();
    }
    fail("'<' not supported between instances of '{}' and '{}'", type_name(a), type_name(b));
}

size_t length(const value & v) {
    switch (v.k) {
        case kind::UNDEFINED:
            return 0;
        case kind::STRING:
            return code_points(v.s);
        case kind::LIST:
            return v.l->size();
        case kind::DICT:
            return v.d->items.size();
        default:
            fail("object of type '{}' has no len()", type_name(v));
    }
}

}  // namespace sluice::jinja
