// Methods of str, dict and list that chat templates call (`content.split('</think>')`,
// `tool.items()`, `messages.append(m)`), bound to their receiver when looked up.
#include "chat/args.h"
#include "chat/interp.h"
#include "chat/pystr.h"

#include <algorithm>

namespace sluice::jinja {

namespace {

using method_fn = value (*)(interpreter & in, const value & self, const call_args & a);

// startswith/endswith accept a string or a tuple of strings.
bool affix(interpreter & in, const value & self, const call_args & a, const char * name, bool at_end) {
    const value &      what    = bound_args(in, a, name, {"prefix"}).required(0);
    std::vector<value> options = what.is_list() ? *what.l : std::vector<value>{what};
    for (const value & o : options) {
        if (!o.is_string()) {
            in.error(a.at, std::string(name) + "() arguments must be str or a tuple of str, not " + type_name(o));
        }
        const std::string & s = self.s;
        if (o.s.size() <= s.size() &&
            (at_end ? s.compare(s.size() - o.s.size(), o.s.size(), o.s) == 0 : s.compare(0, o.s.size(), o.s) == 0)) {
            return true;
        }
    }
    return false;
}

value s_strip(interpreter & in, const value & self, const call_args & a) {
    return value::string(py_strip(self.s, bound_args(in, a, "strip", {"chars"}).str_opt(0), strip_side::BOTH));
}
value s_lstrip(interpreter & in, const value & self, const call_args & a) {
    return value::string(py_strip(self.s, bound_args(in, a, "lstrip", {"chars"}).str_opt(0), strip_side::LEFT));
}
value s_rstrip(interpreter & in, const value & self, const call_args & a) {
    return value::string(py_strip(self.s, bound_args(in, a, "rstrip", {"chars"}).str_opt(0), strip_side::RIGHT));
}
value s_split(interpreter & in, const value & self, const call_args & a) {
    const bound_args b(in, a, "split", {"sep", "maxsplit"});
    const auto       sep = b.str_opt(0);
    if (sep && sep->empty()) {
        in.error(a.at, "ValueError: empty separator");
    }
    std::vector<value> out;
    for (std::string & part : py_split(self.s, sep, b.int_or(1, -1))) {
        out.push_back(value::string(std::move(part)));
    }
    return value::list(std::move(out));
}
value s_startswith(interpreter & in, const value & self, const call_args & a) {
    return value::boolean(affix(in, self, a, "startswith", false));
}
value s_endswith(interpreter & in, const value & self, const call_args & a) {
    return value::boolean(affix(in, self, a, "endswith", true));
}
value s_upper(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "upper", {});
    return value::string(ascii_upper(self.s));
}
value s_lower(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "lower", {});
    return value::string(ascii_lower(self.s));
}
value s_title(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "title", {});
    return value::string(py_title(self.s));
}
value s_capitalize(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "capitalize", {});
    return value::string(py_capitalize(self.s));
}
value s_replace(interpreter & in, const value & self, const call_args & a) {
    const bound_args b(in, a, "replace", {"old", "new", "count"});
    const value &    from = b.required(0);
    const value &    to   = b.required(1);
    if (!from.is_string() || !to.is_string()) {
        in.error(a.at, "replace() arguments must be str");
    }
    std::string r = py_replace(self.s, from.s, to.s, b.int_or(2, -1));
    if (r.size() > in.lim().max_bytes) {
        in.error(a.at, "replace() result too large");
    }
    return value::string(std::move(r));
}
value s_find(interpreter & in, const value & self, const call_args & a) {
    const value & sub = bound_args(in, a, "find", {"sub"}).required(0);
    if (!sub.is_string()) {
        in.error(a.at, "find() argument must be str");
    }
    const size_t p = self.s.find(sub.s);
    return value::integer(p == std::string::npos ? -1 : static_cast<int64_t>(code_points(self.s.substr(0, p))));
}
value s_count(interpreter & in, const value & self, const call_args & a) {
    const value & sub = bound_args(in, a, "count", {"sub"}).required(0);
    if (!sub.is_string()) {
        in.error(a.at, "count() argument must be str");
    }
    if (sub.s.empty()) {
        return value::integer(static_cast<int64_t>(code_points(self.s)) + 1);
    }
    int64_t n = 0;
    for (size_t p = self.s.find(sub.s); p != std::string::npos; p = self.s.find(sub.s, p + sub.s.size())) {
        ++n;
    }
    return value::integer(n);
}
value s_join(interpreter & in, const value & self, const call_args & a) {
    const value & items = bound_args(in, a, "join", {"iterable"}).required(0);
    std::string   out;
    bool          first = true;
    for (const value & x : in.iterate(items, a.at)) {
        if (!x.is_string()) {
            in.error(a.at, "join(): sequence item is " + type_name(x) + ", not str");
        }
        out += (first ? "" : self.s) + x.s;
        first = false;
        if (out.size() > in.lim().max_bytes) {
            in.error(a.at, "join() result too large");
        }
    }
    return value::string(std::move(out));
}

value d_items(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "items", {});
    std::vector<value> out;
    for (const auto & [k, v] : self.d->items) {
        out.push_back(value::list({k, v}, true));
    }
    return value::list(std::move(out));
}
value d_keys(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "keys", {});
    std::vector<value> out;
    for (const auto & kv : self.d->items) {
        out.push_back(kv.first);
    }
    return value::list(std::move(out));
}
value d_values(interpreter & in, const value & self, const call_args & a) {
    bound_args(in, a, "values", {});
    std::vector<value> out;
    for (const auto & kv : self.d->items) {
        out.push_back(kv.second);
    }
    return value::list(std::move(out));
}
value d_get(interpreter & in, const value & self, const call_args & a) {
    const bound_args b(in, a, "get", {"key", "default"});
    const value *    v = self.d->find(b.required(0));
    return v ? *v : b.get_or(1, value::none());
}

value l_append(interpreter & in, const value & self, const call_args & a) {
    const value & x = bound_args(in, a, "append", {"object"}).required(0);
    if (self.tuple) {
        in.error(a.at, "'tuple' object has no attribute 'append'");
    }
    if (self.l->size() >= in.lim().max_items) {
        in.error(a.at, "list longer than " + std::to_string(in.lim().max_items) + " items");
    }
    if (reaches(x, self.l.get())) {
        in.error(a.at, "a list cannot contain itself (sluice refuses the reference cycle Python would allow)");
    }
    self.l->push_back(x);
    return value::none();
}
value l_index(interpreter & in, const value & self, const call_args & a) {
    const value & x = bound_args(in, a, "index", {"value"}).required(0);
    for (size_t k = 0; k < self.l->size(); ++k) {
        if (equals((*self.l)[k], x)) {
            return value::integer(static_cast<int64_t>(k));
        }
    }
    in.error(a.at, "ValueError: " + to_repr(x) + " is not in list");
}
value l_count(interpreter & in, const value & self, const call_args & a) {
    const value & x = bound_args(in, a, "count", {"value"}).required(0);
    return value::integer(std::count_if(self.l->begin(), self.l->end(), [&](const value & y) { return equals(x, y); }));
}

const std::unordered_map<std::string_view, method_fn> & table(kind k) {
    static const std::unordered_map<std::string_view, method_fn> str = {
        {"strip", s_strip},           {"lstrip", s_lstrip},
        {"rstrip", s_rstrip},         {"split", s_split},
        {"startswith", s_startswith}, {"endswith", s_endswith},
        {"upper", s_upper},           {"lower", s_lower},
        {"title", s_title},           {"capitalize", s_capitalize},
        {"replace", s_replace},       {"find", s_find},
        {"count", s_count},           {"join", s_join},
    };
    static const std::unordered_map<std::string_view, method_fn> dict = {
        {"items", d_items},
        {"keys", d_keys},
        {"values", d_values},
        {"get", d_get},
    };
    static const std::unordered_map<std::string_view, method_fn> list = {
        {"append", l_append},
        {"index", l_index},
        {"count", l_count},
    };
    return k == kind::STRING ? str : k == kind::DICT ? dict : list;
}

}  // namespace

std::optional<value> find_method(const value & receiver, const std::string & name) {
    if (!receiver.is_string() && !receiver.is_dict() && !receiver.is_list()) {
        return std::nullopt;
    }
    const auto & t  = table(receiver.k);
    const auto   it = t.find(name);
    if (it == t.end()) {
        return std::nullopt;
    }
    value m;
    m.k = kind::CALLABLE;
    m.c = std::make_shared<callable>(callable{
        name, [fn = it->second, self = receiver](interpreter & in, const call_args & a) { return fn(in, self, a); }});
    return m;
}

}  // namespace sluice::jinja
