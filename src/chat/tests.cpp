// jinja2's built-in tests (`x is defined`, `x is equalto y`, ...). Type tests follow the
// Python checks jinja2 makes: a str is iterable and a sequence, a dict is a sequence too
// (it has len and []), and Undefined is iterable and a sequence (it iterates as empty).
#include "chat/args.h"
#include "chat/interp.h"

#include <unordered_map>

namespace sluice::jinja {

namespace {

value arg0(interpreter & in, const call_args & a, std::string_view name) {
    return bound_args(in, a, name, {"other"}).required(0);
}

int64_t int_operand(interpreter & in, const value & v, const call_args & a, std::string_view name) {
    if (!v.is_int_like()) {
        in.error(a.at, "test '" + std::string(name) + "' needs an integer, got " + type_name(v));
    }
    return v.as_int();
}

bool no_args(interpreter & in, const call_args & a, std::string_view name) {
    bound_args(in, a, name, {});
    return true;
}

bool t_defined(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "defined") && !v.is_undefined();
}
bool t_undefined(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "undefined") && v.is_undefined();
}
bool t_none(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "none") && v.is_none();
}
bool t_boolean(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "boolean") && v.k == kind::BOOL;
}
bool t_false(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "false") && v.k == kind::BOOL && !v.b;
}
bool t_true(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "true") && v.k == kind::BOOL && v.b;
}
bool t_integer(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "integer") && v.k == kind::INT;
}
bool t_float(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "float") && v.k == kind::FLOAT;
}
bool t_number(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "number") && v.is_number();
}
bool t_string(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "string") && v.is_string();
}
bool t_mapping(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "mapping") && v.is_dict();
}
bool t_iterable(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "iterable") && (v.is_undefined() || v.is_string() || v.is_list() || v.is_dict());
}
bool t_sequence(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "sequence") && (v.is_undefined() || v.is_string() || v.is_list() || v.is_dict());
}
bool t_callable(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "callable") && v.k == kind::CALLABLE;
}
bool t_escaped(interpreter & in, const value &, const call_args & a) {
    return !no_args(in, a, "escaped");  // nothing is Markup: autoescape is off
}
bool t_lower(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "lower") && v.is_string() &&
           v.s.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos &&
           v.s.find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos;
}
bool t_upper(interpreter & in, const value & v, const call_args & a) {
    return no_args(in, a, "upper") && v.is_string() &&
           v.s.find_first_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos &&
           v.s.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos;
}
bool t_odd(interpreter & in, const value & v, const call_args & a) {
    no_args(in, a, "odd");
    return int_operand(in, v, a, "odd") % 2 != 0;
}
bool t_even(interpreter & in, const value & v, const call_args & a) {
    no_args(in, a, "even");
    return int_operand(in, v, a, "even") % 2 == 0;
}
bool t_divisibleby(interpreter & in, const value & v, const call_args & a) {
    const int64_t d = int_operand(in, bound_args(in, a, "divisibleby", {"num"}).required(0), a, "divisibleby");
    if (d == 0) {
        in.error(a.at, "ZeroDivisionError: divisibleby 0");
    }
    return d == -1 || int_operand(in, v, a, "divisibleby") % d == 0;
}
bool t_eq(interpreter & in, const value & v, const call_args & a) {
    return equals(v, arg0(in, a, "eq"));
}
bool t_ne(interpreter & in, const value & v, const call_args & a) {
    return !equals(v, arg0(in, a, "ne"));
}
bool t_lt(interpreter & in, const value & v, const call_args & a) {
    return less(v, arg0(in, a, "lt"));
}
bool t_le(interpreter & in, const value & v, const call_args & a) {
    return !less(arg0(in, a, "le"), v);
}
bool t_gt(interpreter & in, const value & v, const call_args & a) {
    return less(arg0(in, a, "gt"), v);
}
bool t_ge(interpreter & in, const value & v, const call_args & a) {
    return !less(v, arg0(in, a, "ge"));
}
bool t_in(interpreter & in, const value & v, const call_args & a) {
    return in.contains(bound_args(in, a, "in", {"seq"}).required(0), v, a.at);
}
bool t_sameas(interpreter & in, const value & v, const call_args & a) {
    // Python identity: the same container, or equal singletons and small scalars.
    const value o = arg0(in, a, "sameas");
    if (v.k != o.k) {
        return false;
    }
    switch (v.k) {
        case kind::LIST:
            return v.l == o.l;
        case kind::DICT:
        case kind::NAMESPACE:
            return v.d == o.d;
        case kind::CALLABLE:
            return v.c == o.c;
        default:
            return equals(v, o);
    }
}
bool t_filter(interpreter & in, const value & v, const call_args & a) {
    no_args(in, a, "filter");
    return v.is_string() && find_filter(v.s) != nullptr;
}
bool t_test(interpreter & in, const value & v, const call_args & a) {
    no_args(in, a, "test");
    return v.is_string() && find_test(v.s) != nullptr;
}

}  // namespace

const test_fn * find_test(std::string_view name) {
    static const std::unordered_map<std::string_view, test_fn> tests = {
        {"defined", t_defined},
        {"undefined", t_undefined},
        {"none", t_none},
        {"boolean", t_boolean},
        {"false", t_false},
        {"true", t_true},
        {"integer", t_integer},
        {"float", t_float},
        {"number", t_number},
        {"string", t_string},
        {"mapping", t_mapping},
        {"iterable", t_iterable},
        {"sequence", t_sequence},
        {"callable", t_callable},
        {"escaped", t_escaped},
        {"lower", t_lower},
        {"upper", t_upper},
        {"odd", t_odd},
        {"even", t_even},
        {"divisibleby", t_divisibleby},
        {"eq", t_eq},
        {"equalto", t_eq},
        {"==", t_eq},
        {"ne", t_ne},
        {"!=", t_ne},
        {"lt", t_lt},
        {"lessthan", t_lt},
        {"<", t_lt},
        {"le", t_le},
        {"<=", t_le},
        {"gt", t_gt},
        {"greaterthan", t_gt},
        {">", t_gt},
        {"ge", t_ge},
        {">=", t_ge},
        {"in", t_in},
        {"sameas", t_sameas},
        {"filter", t_filter},
        {"test", t_test},
    };
    const auto it = tests.find(name);
    return it == tests.end() ? nullptr : &it->second;
}

}  // namespace sluice::jinja
