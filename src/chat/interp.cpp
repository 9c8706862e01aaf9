// The evaluator's statements and expression dispatch (see interp.h). Operators and element
// access are in ops.cpp, the global functions in globals.cpp, filters and tests in
// filters.cpp / tests.cpp, methods in methods.cpp.
#include "chat/interp.h"

#include "chat/lexer.h"

#include <algorithm>

namespace sluice::jinja {

void install_globals(interpreter & in, std::unordered_map<std::string, value> & vars, std::time_t now);

namespace {
// Errors raised by the interpreter itself carry their position already; others (from value
// operations) get the position of the innermost expression that was being evaluated.
class positioned_error : public sluice::error {
  public:
    using sluice::error::error;
};
}  // namespace

struct interpreter::nest {
    explicit nest(interpreter & in, size_t at) : in_(in) {
        if (++in_.nesting_ > in_.lim_.max_nesting) {
            in_.error(at, "evaluation nested deeper than " + std::to_string(in_.lim_.max_nesting) + " levels");
        }
        if (++in_.steps_ > in_.lim_.max_steps) {
            in_.error(at,
                      "template ran for more than " + std::to_string(in_.lim_.max_steps) + " steps (runaway loop?)");
        }
    }
    ~nest() { --in_.nesting_; }
    nest(const nest &)                    = delete;
    nest &        operator=(const nest &) = delete;
    interpreter & in_;
};

interpreter::interpreter(const std::string & source, limits lim) : source_(source), lim_(lim) {
    globals_.parent = &builtins_;
    scope_          = &globals_;
}

void interpreter::error(size_t at, std::string_view what) const {
    throw positioned_error(fmt::format("chat template {}: {}", where(source_, at), what));
}

std::string interpreter::render(const body & b, const dict & vars, std::time_t now) {
    install_globals(*this, builtins_.vars, now);
    for (const auto & [k, v] : vars.items) {
        if (k.is_string()) {
            globals_.vars[k.s] = v;
        }
    }
    std::string out;
    exec_body(b, out);
    return out;
}

void interpreter::emit(std::string & out, std::string_view text, size_t at) const {
    if (out.size() + text.size() > lim_.max_bytes) {
        error(at, "output larger than " + std::to_string(lim_.max_bytes) + " bytes");
    }
    out.append(text);
}

void interpreter::check_size(const value & v, size_t at) const {
    if (v.is_string() && v.s.size() > lim_.max_bytes) {
        error(at, "string larger than " + std::to_string(lim_.max_bytes) + " bytes");
    }
    if (v.is_list() && v.l->size() > lim_.max_items) {
        error(at, "list longer than " + std::to_string(lim_.max_items) + " items");
    }
}

value interpreter::lookup(const std::string & name) const {
    for (const frame * f = scope_; f; f = f->parent) {
        const auto it = f->vars.find(name);
        if (it != f->vars.end()) {
            return it->second;
        }
    }
    return value::undefined("'" + name + "' is undefined");
}

void interpreter::assign(const std::vector<std::string> & targets, const value & v, size_t at) {
    if (targets.size() == 1) {
        scope_->vars[targets[0]] = v;
        return;
    }
    const std::vector<value> items = iterate(v, at);
    if (items.size() != targets.size()) {
        error(at, fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    }
    for (size_t k = 0; k < targets.size(); ++k) {
        scope_->vars[targets[k]] = items[k];
    }
}

interpreter::flow interpreter::exec_body(const body & b, std::string & out) {
    for (const stmt_ptr & s : b) {
        const flow f = exec(*s, out);
        if (f != flow::NORMAL) {
            return f;
        }
    }
    return flow::NORMAL;
}

interpreter::flow interpreter::exec(const stmt & s, std::string & out) {
    nest guard(*this, s.at);
    switch (s.kind) {
        case st::TEXT:
            emit(out, s.text, s.at);
            return flow::NORMAL;
        case st::OUTPUT: {
            const value v = eval(*s.exprs[0]);
            emit(out, v.is_string() ? v.s : to_str(v), s.at);
            return flow::NORMAL;
        }
        case st::IF:
            for (size_t k = 0; k < s.bodies.size(); ++k) {
                if (k == s.exprs.size() || truthy(eval(*s.exprs[k]))) {
                    return exec_body(s.bodies[k], out);
                }
            }
            return flow::NORMAL;
        case st::FOR:
            exec_for(s, out);
            return flow::NORMAL;
        case st::SET: {
            const value v = eval(*s.exprs[0]);
            if (s.attr.empty()) {
                assign(s.targets, v, s.at);
                return flow::NORMAL;
            }
            const value ns = lookup(s.targets[0]);
            if (ns.k != kind::NAMESPACE) {
                error(s.at, "cannot assign attribute '" + s.attr + "' on non-namespace object '" + s.targets[0] + "'");
            }
            if (reaches(v, ns.d.get())) {
                error(s.at,
                      "a namespace cannot contain itself (sluice refuses the reference cycle Python would allow)");
            }
            ns.d->set(s.attr, v);
            return flow::NORMAL;
        }
        case st::SET_BLOCK:
        case st::FILTER_BLOCK: {
            std::string text;
            exec_body(s.bodies[0], text);
            value v = value::string(std::move(text));
            if (s.exprs[0]) {
                const value * saved = filter_input_;
                filter_input_       = &v;
                value filtered      = eval(*s.exprs[0]);
                filter_input_       = saved;
                v                   = std::move(filtered);
            }
            if (s.kind == st::SET_BLOCK) {
                assign(s.targets, v, s.at);
            } else {
                emit(out, to_str(v), s.at);
            }
            return flow::NORMAL;
        }
        case st::MACRO: {
            value m;
            m.k              = kind::CALLABLE;
            const stmt * def = &s;
            m.c              = std::make_shared<callable>(
                callable{s.text, [def](interpreter & in, const call_args & a) { return in.call_macro(*def, a); }});
            scope_->vars[s.text] = std::move(m);
            return flow::NORMAL;
        }
        case st::BREAK:
            return flow::BREAK;
        case st::CONTINUE:
            return flow::CONTINUE;
    }
    return flow::NORMAL;
}

void interpreter::exec_for(const stmt & s, std::string & out) {
    std::vector<value> items = iterate(eval(*s.exprs[0]), s.exprs[0]->at);
    frame              f;
    f.parent      = scope_;
    frame * outer = scope_;
    scope_        = &f;
    // `for x in xs if cond`: the loop variables and `loop` count only the items kept.
    if (s.exprs[1]) {
        std::vector<value> kept;
        for (value & item : items) {
            assign(s.targets, item, s.at);
            if (truthy(eval(*s.exprs[1]))) {
                kept.push_back(std::move(item));
            }
        }
        items = std::move(kept);
    }
    struct restore {
        interpreter & in;
        frame *       outer;
        ~restore() { in.scope_ = outer; }
    } restore_scope{*this, outer};

    // One `loop` object per loop, updated in place each iteration (a fresh dict per iteration
    // made empty loops the slowest thing a template could do). Absent neighbours are Undefined.
    const auto n      = static_cast<int64_t>(items.size());
    auto       cursor = std::make_shared<int64_t>(0);
    value      loop   = value::new_dict();
    dict &     d      = *loop.d;
    for (const char * key : {"index0", "index", "revindex0", "revindex", "first", "last", "length", "depth", "depth0",
                             "previtem", "nextitem"}) {
        d.set(key, value::undefined());
    }
    d.set("length", value::integer(n));
    d.set("depth", value::integer(1));
    d.set("depth0", value::integer(0));
    value cycle;
    cycle.k = kind::CALLABLE;
    cycle.c = std::make_shared<callable>(callable{"cycle", [cursor](interpreter & in, const call_args & a) {
                                                      if (a.pos.empty()) {
                                                          in.error(a.at, "loop.cycle() needs at least one value");
                                                      }
                                                      return a.pos[static_cast<size_t>(*cursor) % a.pos.size()];
                                                  }});
    d.set("cycle", std::move(cycle));
    for (int64_t k = 0; k < n; ++k) {
        nest tick(*this, s.at);  // an iteration is a step even when the body is empty
        *cursor            = k;
        d.items[0].second  = value::integer(k);
        d.items[1].second  = value::integer(k + 1);
        d.items[2].second  = value::integer(n - k - 1);
        d.items[3].second  = value::integer(n - k);
        d.items[4].second  = value::boolean(k == 0);
        d.items[5].second  = value::boolean(k == n - 1);
        d.items[9].second  = k > 0 ? items[static_cast<size_t>(k - 1)] : value::undefined("there is no previous item");
        d.items[10].second = k + 1 < n ? items[static_cast<size_t>(k + 1)] : value::undefined("there is no next item");
        f.vars.clear();  // each iteration starts from the enclosing scope's values
        assign(s.targets, items[static_cast<size_t>(k)], s.at);
        f.vars["loop"] = loop;
        if (exec_body(s.bodies[0], out) == flow::BREAK) {
            break;
        }
    }
    if (n == 0 && s.bodies.size() > 1) {
        f.vars.clear();
        exec_body(s.bodies[1], out);
    }
}

value interpreter::call_macro(const stmt & m, const call_args & a) {
    if (macro_depth_ >= lim_.max_macro_depth) {
        error(a.at, "macro '" + m.text + "' recursed deeper than " + std::to_string(lim_.max_macro_depth) + " calls");
    }
    if (a.pos.size() > m.targets.size()) {
        error(a.at, fmt::format("macro '{}' takes not more than {} argument(s), got {}", m.text, m.targets.size(),
                                a.pos.size()));
    }
    frame f;
    f.parent      = &globals_;
    frame * outer = scope_;
    scope_        = &f;
    ++macro_depth_;
    struct restore {
        interpreter & in;
        frame *       outer;
        ~restore() {
            in.scope_ = outer;
            --in.macro_depth_;
        }
    } restore_scope{*this, outer};

    for (const auto & [key, v] : a.kw) {
        if (std::find(m.targets.begin(), m.targets.end(), key) == m.targets.end()) {
            error(a.at, "macro '" + m.text + "' takes no keyword argument '" + key + "'");
        }
    }
    for (size_t k = 0; k < m.targets.size(); ++k) {
        const std::string & p = m.targets[k];
        if (k < a.pos.size()) {
            f.vars[p] = a.pos[k];
            continue;
        }
        const auto kw = std::find_if(a.kw.begin(), a.kw.end(), [&](const auto & x) { return x.first == p; });
        if (kw != a.kw.end()) {
            f.vars[p] = kw->second;
        } else if (m.exprs[k]) {
            f.vars[p] = eval(*m.exprs[k]);
        } else {
            f.vars[p] = value::undefined("parameter '" + p + "' was not provided");
        }
    }
    std::string text;
    exec_body(m.bodies[0], text);
    return value::string(std::move(text));
}

value interpreter::call(const value & fn, const call_args & args) {
    if (fn.k == kind::CALLABLE) {
        return fn.c->fn(*this, args);
    }
    if (fn.is_undefined()) {
        error(args.at,
              fmt::format("UndefinedError: {} (called)", fn.s.empty() ? std::string_view("undefined value") : fn.s));
    }
    error(args.at, fmt::format("'{}' object is not callable", type_name(fn)));
}

value interpreter::eval(const expr & e) {
    nest guard(*this, e.at);
    try {
        return eval_node(e);
    } catch (const positioned_error &) {
        throw;
    } catch (const sluice::error & err) {
        error(e.at, err.what());
    }
}

call_args interpreter::eval_args(const expr & e, size_t first) {
    call_args a;
    a.at = e.at;
    for (size_t k = first; k < e.args.size(); ++k) {
        a.pos.push_back(eval(*e.args[k]));
    }
    for (const auto & [key, x] : e.kwargs) {
        a.kw.emplace_back(key, eval(*x));
    }
    return a;
}

value interpreter::eval_call(const expr & e) {
    const expr & callee = *e.args[0];
    value        fn;
    if (callee.kind == ex::GETATTR) {
        // A method on a str/list/dict is looked up on the receiver itself.
        const value obj = eval(*callee.args[0]);
        fn              = get_attr(obj, callee.name, callee.at);
    } else {
        fn = eval(callee);
    }
    return call(fn, eval_args(e, 1));
}

value interpreter::eval_filter(const expr & e) {
    value operand;
    if (e.args[0]) {
        operand = eval(*e.args[0]);
    } else if (filter_input_) {
        operand = *filter_input_;
    }
    const filter_fn * f = find_filter(e.name);
    if (!f) {
        error(e.at, "unknown filter '" + e.name + "'");
    }
    value r = (*f)(*this, operand, eval_args(e, 1));
    check_size(r, e.at);
    return r;
}

value interpreter::eval_compare(const expr & e) {
    value left = eval(*e.args[0]);
    for (size_t k = 0; k < e.ops.size(); ++k) {
        value               right = eval(*e.args[k + 1]);
        const std::string & op    = e.ops[k];
        bool                ok    = false;
        if (op == "==") {
            ok = equals(left, right);
        } else if (op == "!=") {
            ok = !equals(left, right);
        } else if (op == "<") {
            ok = less(left, right);
        } else if (op == ">") {
            ok = less(right, left);
        } else if (op == "<=") {
            ok = !less(right, left);
        } else if (op == ">=") {
            ok = !less(left, right);
        } else if (op == "in") {
            ok = contains(right, left, e.at);
        } else {
            ok = !contains(right, left, e.at);
        }
        if (!ok) {
            return value::boolean(false);
        }
        left = std::move(right);
    }
    return value::boolean(true);
}

value interpreter::eval_node(const expr & e) {
    switch (e.kind) {
        case ex::CONST:
            return e.constant;
        case ex::NAME:
            return lookup(e.name);
        case ex::LIST:
        case ex::TUPLE: {
            std::vector<value> items;
            for (const expr_ptr & x : e.args) {
                items.push_back(eval(*x));
            }
            return value::list(std::move(items), e.kind == ex::TUPLE);
        }
        case ex::DICT: {
            value d = value::new_dict();
            for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
                value key = eval(*e.args[k]);
                if (key.is_list() || key.is_dict() || key.is_undefined()) {
                    error(e.args[k]->at, "unhashable dict key of type '" + type_name(key) + "'");
                }
                d.d->set(key, eval(*e.args[k + 1]));
            }
            return d;
        }
        case ex::GETATTR:
            return get_attr(eval(*e.args[0]), e.name, e.at);
        case ex::GETITEM:
            return get_item(eval(*e.args[0]), eval(*e.args[1]), e.at);
        case ex::SLICE:
            return eval_slice(e);
        case ex::CALL:
            return eval_call(e);
        case ex::FILTER:
            return eval_filter(e);
        case ex::TEST: {
            const value     operand = eval(*e.args[0]);
            const test_fn * t       = find_test(e.name);
            if (!t) {
                error(e.at, "unknown test '" + e.name + "'");
            }
            return value::boolean((*t)(*this, operand, eval_args(e, 1)));
        }
        case ex::NEG:
        case ex::POS: {
            const value v = eval(*e.args[0]);
            if (v.is_undefined()) {
                error(e.at, "UndefinedError: " + v.s);
            }
            if (!v.is_number()) {
                error(e.at, "bad operand type for unary " + std::string(e.kind == ex::NEG ? "-" : "+") + ": '" +
                                type_name(v) + "'");
            }
            if (e.kind == ex::POS) {
                return v.k == kind::BOOL ? value::integer(v.as_int()) : v;
            }
            if (v.k == kind::FLOAT) {
                return value::number(-v.f);
            }
            if (v.as_int() == INT64_MIN) {
                error(e.at, "integer overflow");
            }
            return value::integer(-v.as_int());
        }
        case ex::NOT:
            return value::boolean(!truthy(eval(*e.args[0])));
        case ex::AND: {
            value a = eval(*e.args[0]);
            return truthy(a) ? eval(*e.args[1]) : a;
        }
        case ex::OR: {
            value a = eval(*e.args[0]);
            return truthy(a) ? a : eval(*e.args[1]);
        }
        case ex::BINARY: {
            const value a = eval(*e.args[0]);
            const value b = eval(*e.args[1]);
            value       r = binary(e.name, a, b, e.at);
            check_size(r, e.at);
            return r;
        }
        case ex::COMPARE:
            return eval_compare(e);
        case ex::CONDEXPR:
            if (truthy(eval(*e.args[1]))) {
                return eval(*e.args[0]);
            }
            return e.args[2] ? eval(*e.args[2]) : value::undefined("the condition of an inline if was false");
    }
    return value::undefined();
}

}  // namespace sluice::jinja
