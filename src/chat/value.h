// The dynamic value of the template interpreter: the Python objects jinja2 templates see
// (None, bool, int, float, str, list/tuple, dict, namespace, callables) plus jinja2's
// Undefined. Lists, dicts and namespaces are shared by reference, as in Python, so that
// `ns.x = ...` and `list.append(...)` are seen through every name bound to the object.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::jinja {

enum class kind { UNDEFINED, NONE, BOOL, INT, FLOAT, STRING, LIST, DICT, NAMESPACE, CALLABLE };

struct value;
struct dict;
struct callable;
using list_ptr     = std::shared_ptr<std::vector<value>>;
using dict_ptr     = std::shared_ptr<dict>;
using callable_ptr = std::shared_ptr<const callable>;

struct value {
    kind         k     = kind::UNDEFINED;
    bool         b     = false;
    bool         tuple = false;  // a LIST that Python would hold as a tuple (only repr differs)
    int64_t      i     = 0;
    double       f     = 0;
    std::string  s;  // STRING: the UTF-8 text; UNDEFINED: what was looked up, for messages
    list_ptr     l;
    dict_ptr     d;  // DICT and NAMESPACE
    callable_ptr c;

    static value undefined(std::string what = {});
    static value none();
    static value boolean(bool v);
    static value integer(int64_t v);
    static value number(double v);
    static value string(std::string v);
    static value list(std::vector<value> items = {}, bool is_tuple = false);
    static value new_dict();
    static value new_namespace();

    bool    is_undefined() const { return k == kind::UNDEFINED; }
    bool    is_none() const { return k == kind::NONE; }
    bool    is_string() const { return k == kind::STRING; }
    bool    is_list() const { return k == kind::LIST; }
    bool    is_dict() const { return k == kind::DICT; }
    bool    is_number() const { return k == kind::INT || k == kind::FLOAT || k == kind::BOOL; }
    bool    is_int_like() const { return k == kind::INT || k == kind::BOOL; }
    double  as_double() const { return k == kind::FLOAT ? f : static_cast<double>(k == kind::BOOL ? b : i); }
    int64_t as_int() const { return k == kind::BOOL ? static_cast<int64_t>(b) : i; }
};

// An insertion-ordered mapping (Python dicts keep insertion order, and templates print keys
// in that order). String keys are indexed; other keys (rare: ints) are found by a scan.
struct dict {
    std::vector<std::pair<value, value>>    items;
    std::unordered_map<std::string, size_t> index;

    const value * find(const value & key) const;
    const value * find(std::string_view key) const;
    void          set(const value & key, value v);
    void          set(std::string_view key, value v) { set(value::string(std::string(key)), std::move(v)); }
};

// Positional and keyword arguments of a call, with the byte offset of the call in the source
// so that a native function can report where it failed.
struct call_args {
    std::vector<value>                         pos;
    std::vector<std::pair<std::string, value>> kw;
    size_t                                     at = 0;
};

class interpreter;
struct callable {
    std::string                                            name;
    std::function<value(interpreter &, const call_args &)> fn;
};

// Whether `target` (a list's or dict's storage) is `from` or reachable from it through the
// items of lists and the keys and values of dicts and namespaces. Containers are shared
// pointers, so a container that holds itself would never be freed: the mutations that could
// make one (list.append, setting a namespace attribute) refuse to (issue 16 item 9).
bool reaches(const value & from, const void * target);

// Python semantics of the basic operations. Each takes a nesting budget so that deeply
// nested values end in an error rather than a stack overflow; they throw sluice::error
// without a position, callers add it.
bool        truthy(const value & v);
std::string type_name(const value & v);  // Python's type name ("str", "dict", "Undefined")
std::string to_str(const value & v);     // str(v); Undefined prints as ""
std::string to_repr(const value & v);    // repr(v)
std::string py_float_repr(double v);     // repr(float): shortest round-trip text
bool        equals(const value & a, const value & b, int depth = 0);
bool        less(const value & a, const value & b);  // a < b, or an error for unordered types
size_t      length(const value & v);                 // len(v); an error for non-sized values

// json.dumps(v, ensure_ascii=False, indent=indent, separators=..., sort_keys=...) as Hugging
// Face's tojson filter calls it; indent unset is Python's None (everything on one line).
struct json_style {
    std::optional<std::string> indent;
    std::string                item_sep  = ", ";
    std::string                key_sep   = ": ";
    bool                       sort_keys = false;
};
std::string to_json(const value & v, const json_style & style);

// JSON documents (messages, tools, extra context) become values; object keys keep the order
// the json type gives them.
value from_json(const nlohmann::json & j);
value from_json(const nlohmann::ordered_json & j);

}  // namespace sluice::jinja
