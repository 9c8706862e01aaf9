// The template parser: tokens to a statement tree, following jinja2's grammar and operator
// precedence (loosest first: `x if c else y`, or, and, not, comparisons and in/not in, + -,
// ~, * / // %, **, unary - +, then postfix . [] () and filters | / tests `is`).
#pragma once

#include "chat/ast.h"
#include "chat/lexer.h"

#include <string>
#include <vector>

namespace sluice::jinja {

// Parses a normalized source. Throws sluice::error naming the construct and line:col on a
// syntax error or an unsupported tag. Nesting (of blocks and of expressions) is capped so
// that hostile input cannot exhaust the stack.
body parse(const std::string & source);

}  // namespace sluice::jinja
