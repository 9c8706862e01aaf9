// The syntax tree of a template: expressions and statements as jinja2's parser builds them.
// Every node keeps the byte offset of its first token for error messages.
#pragma once

#include "chat/value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::jinja {

enum class ex {
    CONST,     // constant
    NAME,      // name
    LIST,      // args: items
    TUPLE,     // args: items
    DICT,      // args: key0, value0, key1, value1, ...
    GETATTR,   // args[0] . name
    GETITEM,   // args[0] [ args[1] ]
    SLICE,     // args[0] [ args[1] : args[2] : args[3] ], each bound may be null
    CALL,      // args[0] ( args[1..], kwargs )
    FILTER,    // args[0] | name ( args[1..], kwargs ); args[0] null inside a filter block
    TEST,      // args[0] is name ( args[1..], kwargs )
    NEG,       // - args[0]
    POS,       // + args[0]
    NOT,       // not args[0]
    AND,       // args[0] and args[1]
    OR,        // args[0] or args[1]
    BINARY,    // args[0] name args[1], name in + - * / // % ** ~
    COMPARE,   // args[0] ops[0] args[1] ops[1] args[2] ... (chained as in Python)
    CONDEXPR,  // args[0] if args[1] else args[2] (args[2] may be null)
};

struct expr;
using expr_ptr = std::unique_ptr<expr>;

struct expr {
    ex                                            kind = ex::CONST;
    size_t                                        at   = 0;
    value                                         constant;
    std::string                                   name;
    std::vector<expr_ptr>                         args;
    std::vector<std::pair<std::string, expr_ptr>> kwargs;
    std::vector<std::string>                      ops;
};

enum class st {
    TEXT,          // text
    OUTPUT,        // {{ exprs[0] }}
    IF,            // exprs: conditions, bodies: one per condition plus an optional else
    FOR,           // targets in exprs[0] [if exprs[1]]: bodies[0], else bodies[1]
    SET,           // targets = exprs[0]; or attr_of.name = exprs[0] when attr is set
    SET_BLOCK,     // {% set targets[0] [| filter] %} bodies[0] {% endset %}; filter in exprs[0]
    MACRO,         // {% macro name(params=defaults) %} bodies[0]
    FILTER_BLOCK,  // {% filter exprs[0] %} bodies[0]; exprs[0] is a FILTER chain on null
    BREAK,
    CONTINUE,
};

struct stmt;
using stmt_ptr = std::unique_ptr<stmt>;
using body     = std::vector<stmt_ptr>;

struct stmt {
    st                       kind = st::TEXT;
    size_t                   at   = 0;
    std::string              text;     // TEXT; MACRO: the macro's name
    std::vector<std::string> targets;  // FOR/SET: names (several for unpacking); MACRO: params
    std::string              attr;     // SET ns.attr: the attribute (targets[0] is the namespace)
    std::vector<expr_ptr>    exprs;    // see st; MACRO: parameter defaults (null where none)
    std::vector<body>        bodies;
};

}  // namespace sluice::jinja
