// The global functions a chat template can call (jinja2's range/namespace/dict, and the two
// Hugging Face adds, raise_exception(msg) and strftime_now(format)), and the check, made once
// when a template is parsed, that every filter and test it names exists.
#include "chat/args.h"
#include "chat/interp.h"
#include "chat/lexer.h"

#include <ctime>

namespace sluice::jinja {

namespace {

value make_callable(std::string name, std::function<value(interpreter &, const call_args &)> fn) {
    value v;
    v.k = kind::CALLABLE;
    v.c = std::make_shared<callable>(callable{std::move(name), std::move(fn)});
    return v;
}

value g_range(interpreter & in, const call_args & a) {
    if (!a.kw.empty() || a.pos.empty() || a.pos.size() > 3) {
        in.error(a.at, "range() takes 1 to 3 positional arguments");
    }
    for (const value & v : a.pos) {
        if (!v.is_int_like()) {
            in.error(a.at, "range() arguments must be integers, not " + type_name(v));
        }
    }
    const int64_t start = a.pos.size() == 1 ? 0 : a.pos[0].as_int();
    const int64_t stop  = a.pos.size() == 1 ? a.pos[0].as_int() : a.pos[1].as_int();
    const int64_t step  = a.pos.size() == 3 ? a.pos[2].as_int() : 1;
    if (step == 0) {
        in.error(a.at, "ValueError: range() arg 3 must not be zero");
    }
    std::vector<value> out;
    for (int64_t k = start; step > 0 ? k < stop : k > stop;) {
        if (out.size() >= in.lim().max_items) {
            in.error(a.at, "range() longer than " + std::to_string(in.lim().max_items) + " items");
        }
        out.push_back(value::integer(k));
        if (__builtin_add_overflow(k, step, &k)) {
            break;
        }
    }
    return value::list(std::move(out));
}

// namespace(a=1, b=2) or namespace(some_dict, c=3): a mutable attribute bag.
value g_namespace(interpreter & in, const call_args & a, bool as_namespace) {
    value ns = as_namespace ? value::new_namespace() : value::new_dict();
    if (a.pos.size() > 1 || (a.pos.size() == 1 && !a.pos[0].is_dict())) {
        in.error(a.at, std::string(as_namespace ? "namespace" : "dict") + "() takes at most one mapping argument");
    }
    if (!a.pos.empty()) {
        for (const auto & [k, v] : a.pos[0].d->items) {
            ns.d->set(k, v);
        }
    }
    for (const auto & [k, v] : a.kw) {
        ns.d->set(k, v);
    }
    return ns;
}

}  // namespace

void install_globals(interpreter & in, std::unordered_map<std::string, value> & vars, std::time_t now) {
    (void)in;
    vars["range"] = make_callable("range", g_range);
    vars["namespace"] =
        make_callable("namespace", [](interpreter & i, const call_args & a) { return g_namespace(i, a, true); });
    vars["dict"] = make_callable("dict", [](interpreter & i, const call_args & a) { return g_namespace(i, a, false); });
    vars["raise_exception"] = make_callable("raise_exception", [](interpreter & i, const call_args & a) -> value {
        const value & msg = bound_args(i, a, "raise_exception", {"message"}).required(0);
        i.error(a.at, "TemplateError: " + to_str(msg));
    });
    vars["strftime_now"]    = make_callable("strftime_now", [now](interpreter & i, const call_args & a) {
        const std::string fmt = bound_args(i, a, "strftime_now", {"format"}).str_or(0, "");
        if (fmt.size() > 256) {
            i.error(a.at, "strftime_now(): format longer than 256 bytes");
        }
        std::tm tm{};
        if (!gmtime_r(&now, &tm)) {
            i.error(a.at, "strftime_now(): time out of range");
        }
        char         buf[4096];
        const size_t n = fmt.empty() ? 0 : std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
        return value::string(std::string(buf, n));
    });
}

namespace {

void check_expr(const std::string & source, const expr * e) {
    if (!e || e->kind == ex::CONDEXPR) {  // a conditional expression's filters are looked up when run
        return;
    }
    if (e->kind == ex::FILTER && !find_filter(e->name)) {
        fail("chat template {}: unknown filter '{}'", where(source, e->at), e->name);
    }
    if (e->kind == ex::TEST && !find_test(e->name)) {
        fail("chat template {}: unknown test '{}'", where(source, e->at), e->name);
    }
    for (const expr_ptr & x : e->args) {
        check_expr(source, x.get());
    }
    for (const auto & kw : e->kwargs) {
        check_expr(source, kw.second.get());
    }
}

}  // namespace

void check_names(const std::string & source, const body & b) {
    for (const stmt_ptr & s : b) {
        if (s->kind == st::IF) {  // as jinja2 3.x: inside if/elif/else, only when the branch runs
            continue;
        }
        for (const expr_ptr & e : s->exprs) {
            check_expr(source, e.get());
        }
        for (const body & inner : s->bodies) {
            check_names(source, inner);
        }
    }
}

}  // namespace sluice::jinja
