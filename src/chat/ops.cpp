// Operators and element access with Python's semantics and jinja2's Undefined rules: an
// Undefined prints as "", is false and iterates as empty, but any other use (an attribute, an
// item, arithmetic, a call) is an UndefinedError, as with jinja2's default Undefined.
#include "chat/interp.h"
#include "chat/pystr.h"

#include <cmath>

namespace sluice::jinja {

namespace {

[[noreturn]] void undefined_error(const interpreter & in, const value & v, size_t at) {
    in.error(at, "UndefinedError: " + (v.s.empty() ? std::string("value is undefined") : v.s));
}

std::string object_name(const value & v) {
    return v.is_dict() ? "dict object" : type_name(v) + " object";
}

// Integer + - * with Python's result, or an error where Python would grow past 64 bits.
value checked_int(const interpreter & in, char op, int64_t x, int64_t y, size_t at) {
    int64_t    r        = 0;
    const bool overflow = op == '+'   ? __builtin_add_overflow(x, y, &r)
                          : op == '-' ? __builtin_sub_overflow(x, y, &r)
                                      : __builtin_mul_overflow(x, y, &r);
    if (overflow) {
        in.error(at, "integer overflow");
    }
    return value::integer(r);
}

int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

value repeat(const interpreter & in, const value & seq, int64_t times, size_t at) {
    times            = std::max<int64_t>(times, 0);
    const size_t n   = seq.is_string() ? seq.s.size() : seq.l->size();
    const size_t cap = seq.is_string() ? in.lim().max_bytes : in.lim().max_items;
    if (n != 0 && static_cast<uint64_t>(times) > cap / n) {
        in.error(at, "repetition result too large");
    }
    if (seq.is_string()) {
        std::string out;
        for (int64_t k = 0; k < times; ++k) {
            out += seq.s;
        }
        return value::string(std::move(out));
    }
    std::vector<value> out;
    for (int64_t k = 0; k < times; ++k) {
        out.insert(out.end(), seq.l->begin(), seq.l->end());
    }
    return value::list(std::move(out));
}

}  // namespace

value interpreter::binary(const std::string & op, const value & a, const value & b, size_t at) {
    if (op == "~") {
        return value::string(to_str(a) + to_str(b));
    }
    if (a.is_undefined()) {
        undefined_error(*this, a, at);
    }
    if (b.is_undefined()) {
        undefined_error(*this, b, at);
    }
    if (a.is_number() && b.is_number()) {
        const bool    ints = a.is_int_like() && b.is_int_like();
        const int64_t x    = a.as_int();
        const int64_t y    = b.as_int();
        const double  fx   = a.as_double();
        const double  fy   = b.as_double();
        if (op == "+") {
            return ints ? checked_int(*this, '+', x, y, at) : value::number(fx + fy);
        }
        if (op == "-") {
            return ints ? checked_int(*this, '-', x, y, at) : value::number(fx - fy);
        }
        if (op == "*") {
            return ints ? checked_int(*this, '*', x, y, at) : value::number(fx * fy);
        }
        if (op == "/" || op == "//" || op == "%") {
            if (ints ? y == 0 : fy == 0.0) {
                error(at, "ZeroDivisionError: division by zero");
            }
            if (op == "/") {
                return value::number(fx / fy);
            }
            if (ints) {
                if (x == INT64_MIN && y == -1) {
                    error(at, "integer overflow");
                }
                return op == "//" ? value::integer(floor_div(x, y)) : value::integer(x - floor_div(x, y) * y);
            }
            const double q = std::floor(fx / fy);
            return op == "//" ? value::number(q) : value::number(fx - q * fy);
        }
        if (op == "**") {
            if (ints && y >= 0) {
                if (x == 0 || x == 1) {
                    return value::integer(y == 0 ? 1 : x);
                }
                if (x == -1) {
                    return value::integer(y % 2 == 0 ? 1 : -1);
                }
                int64_t acc = 1;  // |x| >= 2 overflows within 63 steps
                for (int64_t k = 0; k < y; ++k) {
                    if (__builtin_mul_overflow(acc, x, &acc)) {
                        error(at, "integer overflow");
                    }
                }
                return value::integer(acc);
            }
            return value::number(std::pow(fx, fy));
        }
    }
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            if (a.s.size() + b.s.size() > lim_.max_bytes) {
                error(at, "string larger than " + std::to_string(lim_.max_bytes) + " bytes");
            }
            return value::string(a.s + b.s);
        }
        if (a.is_list() && b.is_list()) {
            std::vector<value> items = *a.l;
            items.insert(items.end(), b.l->begin(), b.l->end());
            return value::list(std::move(items), a.tuple && b.tuple);
        }
    }
    if (op == "*") {
        if ((a.is_string() || a.is_list()) && b.is_int_like()) {
            return repeat(*this, a, b.as_int(), at);
        }
        if ((b.is_string() || b.is_list()) && a.is_int_like()) {
            return repeat(*this, b, a.as_int(), at);
        }
    }
    if (op == "%" && a.is_string()) {
        error(at, "unsupported printf-style string formatting ('%' on a string)");
    }
    error(at,
          "TypeError: unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

value interpreter::get_attr(const value & obj, const std::string & name, size_t at) {
    if (obj.is_undefined()) {
        undefined_error(*this, obj, at);
    }
    if (obj.is_string() || obj.is_list() || obj.is_dict()) {
        // jinja2 looks for a Python attribute first, so `d.items` is the method even when the
        // dict has an "items" key (templates write d['items'] for the key).
        if (std::optional<value> m = find_method(obj, name)) {
            return *m;
        }
    }
    if (obj.is_dict() || obj.k == kind::NAMESPACE) {
        if (const value * v = obj.d->find(name)) {
            return *v;
        }
    }
    return value::undefined(fmt::format("'{}' has no attribute '{}'", object_name(obj), name));
}

value interpreter::get_item(const value & obj, const value & key, size_t at) {
    if (obj.is_undefined()) {
        undefined_error(*this, obj, at);
    }
    if (obj.is_dict() || obj.k == kind::NAMESPACE) {
        if (const value * v = obj.d->find(key)) {
            return *v;
        }
    } else if ((obj.is_list() || obj.is_string()) && key.is_int_like()) {
        if (obj.is_list()) {
            const auto    n = static_cast<int64_t>(obj.l->size());
            const int64_t k = key.as_int() < 0 ? key.as_int() + n : key.as_int();
            if (k >= 0 && k < n) {
                return (*obj.l)[static_cast<size_t>(k)];
            }
        } else {
            const std::u32string u = to_u32(obj.s);
            const auto           n = static_cast<int64_t>(u.size());
            const int64_t        k = key.as_int() < 0 ? key.as_int() + n : key.as_int();
            if (k >= 0 && k < n) {
                std::string out;
                append_utf8(out, u[static_cast<size_t>(k)]);
                return value::string(std::move(out));
            }
        }
        return value::undefined(object_name(obj) + " index " + std::to_string(key.as_int()) + " out of range");
    } else if (key.is_string() && obj.k != kind::NONE) {
        return get_attr(obj, key.s, at);  // jinja2 falls back to the attribute
    }
    return value::undefined(fmt::format("'{}' has no item {}", object_name(obj), to_repr(key)));
}

value interpreter::eval_slice(const expr & e) {
    const value obj = eval(*e.args[0]);
    if (obj.is_undefined()) {
        undefined_error(*this, obj, e.at);
    }
    std::optional<int64_t> bound[3];
    for (int k = 0; k < 3; ++k) {
        if (!e.args[static_cast<size_t>(k) + 1]) {
            continue;
        }
        const value v = eval(*e.args[static_cast<size_t>(k) + 1]);
        if (v.is_none()) {
            continue;
        }
        if (!v.is_int_like()) {
            error(e.at, "slice indices must be integers or None, not '" + type_name(v) + "'");
        }
        bound[k] = v.as_int();
    }
    const int64_t step = bound[2].value_or(1);
    if (step == 0) {
        error(e.at, "ValueError: slice step cannot be zero");
    }
    if (obj.is_list()) {
        std::vector<value> out;
        for (int64_t k : slice_indices(static_cast<int64_t>(obj.l->size()), bound[0], bound[1], step)) {
            out.push_back((*obj.l)[static_cast<size_t>(k)]);
        }
        return value::list(std::move(out), obj.tuple);
    }
    if (obj.is_string()) {
        const std::u32string u = to_u32(obj.s);
        std::u32string       out;
        for (int64_t k : slice_indices(static_cast<int64_t>(u.size()), bound[0], bound[1], step)) {
            out.push_back(u[static_cast<size_t>(k)]);
        }
        return value::string(to_utf8(out));
    }
    error(e.at, "TypeError: '" + type_name(obj) + "' object is not subscriptable with a slice");
}

bool interpreter::contains(const value & container, const value & item, size_t at) {
    switch (container.k) {
        case kind::UNDEFINED:
            return false;  // Undefined iterates as empty
        case kind::STRING:
            if (!item.is_string()) {
                error(at, "TypeError: 'in <string>' requires string as left operand, not " + type_name(item));
            }
            return container.s.find(item.s) != std::string::npos;
        case kind::LIST:
            for (const value & x : *container.l) {
                if (equals(x, item)) {
                    return true;
                }
            }
            return false;
        case kind::DICT:
            return container.d->find(item) != nullptr;
        default:
            error(at, "TypeError: argument of type '" + type_name(container) + "' is not iterable");
    }
}

std::vector<value> interpreter::iterate(const value & v, size_t at) {
    switch (v.k) {
        case kind::UNDEFINED:
            return {};
        case kind::LIST:
            return *v.l;
        case kind::DICT: {
            std::vector<value> keys;
            for (const auto & kv : v.d->items) {
                keys.push_back(kv.first);
            }
            return keys;
        }
        case kind::STRING: {
            std::vector<value> chars;
            for (char32_t c : to_u32(v.s)) {
                std::string s;
                append_utf8(s, c);
                chars.push_back(value::string(std::move(s)));
            }
            return chars;
        }
        default:
            error(at, "TypeError: '" + type_name(v) + "' object is not iterable");
    }
}

}  // namespace sluice::jinja
