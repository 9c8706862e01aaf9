// The tree-walking evaluator. One interpreter renders one template once; its scopes follow
// jinja2's: the template's top level writes render-wide variables, every for-loop iteration
// and every macro call opens a scope whose assignments do not leak out (hence namespace()),
// and a macro body sees the render-wide variables, not its caller's locals.
//
// Work is bounded so that a hostile template ends in sluice::error, never a hang or a stack
// overflow: evaluation steps, evaluation nesting, macro recursion, string and list sizes.
#pragma once

#include "chat/ast.h"
#include "chat/value.h"
#include "util/error.h"

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::jinja {

struct limits {
    uint64_t max_steps       = 10'000'000;  // expressions and statements evaluated per render
    int      max_nesting     = 1500;        // nested evaluations (C++ stack)
    int      max_macro_depth = 64;          // macro recursion
    size_t   max_bytes       = 16u << 20;   // one string or the output
    size_t   max_items       = 100'000;     // one list (range(), *, append): jinja2's sandbox MAX_RANGE
};

// A filter or a test implemented natively. `operand` is the value left of `|` or `is`.
using filter_fn = value (*)(interpreter & in, const value & operand, const call_args & args);
using test_fn   = bool (*)(interpreter & in, const value & operand, const call_args & args);
const filter_fn * find_filter(std::string_view name);
const test_fn *   find_test(std::string_view name);

// A str/list/dict method bound to its receiver (`s.strip`, `d.items`), or nullopt when the
// receiver has no such method.
std::optional<value> find_method(const value & receiver, const std::string & name);

// Throws sluice::error for the first unknown filter or test in a tree outside if/elif/else
// blocks and conditional expressions: jinja2 3.x (pallets/jinja#1248) refuses those when it
// compiles a template, and the ones inside such blocks only when that code runs (the
// interpreter's error), so a template that uses a filter sluice lacks in a branch it never
// takes still loads.
void check_names(const std::string & source, const body & b);

class interpreter {
  public:
    interpreter(const std::string & source, limits lim = {});

    // Renders `b` with `vars` as the render-wide variables; `now` is what strftime_now formats.
    std::string render(const body & b, const dict & vars, std::time_t now);

    [[noreturn]] void error(size_t at, std::string_view what) const;
    const limits &    lim() const { return lim_; }

    value              call(const value & fn, const call_args & args);
    value              call_macro(const stmt & m, const call_args & args);
    value              get_attr(const value & obj, const std::string & name, size_t at);
    value              get_item(const value & obj, const value & key, size_t at);
    bool               contains(const value & container, const value & item, size_t at);
    std::vector<value> iterate(const value & v, size_t at);
    void               check_size(const value & v, size_t at) const;  // a string or list within the limits
    value              binary(const std::string & op, const value & a, const value & b, size_t at);  // a op b

  private:
    struct frame {
        std::unordered_map<std::string, value> vars;
        frame *                                parent = nullptr;
    };
    enum class flow { NORMAL, BREAK, CONTINUE };

    const std::string & source_;
    limits              lim_;
    frame               builtins_;
    frame               globals_;
    frame *             scope_        = nullptr;
    uint64_t            steps_        = 0;
    int                 nesting_      = 0;
    int                 macro_depth_  = 0;
    const value *       filter_input_ = nullptr;  // the text a filter block / set block filters

    struct nest;

    value lookup(const std::string & name) const;
    void  assign(const std::vector<std::string> & targets, const value & v, size_t at);

    flow      exec_body(const body & b, std::string & out);
    flow      exec(const stmt & s, std::string & out);
    void      exec_for(const stmt & s, std::string & out);
    value     eval(const expr & e);
    value     eval_node(const expr & e);
    value     eval_call(const expr & e);
    value     eval_filter(const expr & e);
    value     eval_compare(const expr & e);
    value     eval_slice(const expr & e);
    call_args eval_args(const expr & e, size_t first);
    void      emit(std::string & out, std::string_view text, size_t at) const;
};

}  // namespace sluice::jinja
