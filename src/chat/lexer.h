// The template lexer: splits a Jinja source into text and tag tokens the way jinja2 3.1 does
// with trim_blocks and lstrip_blocks on, so that whitespace in the output matches it byte for
// byte:
//  - newlines (\r\n, \r, \n) become \n and one trailing newline is dropped;
//  - `{%-`, `{{-`, `{#-` strip all whitespace before the tag, `-%}`, `-}}`, `-#}` after it;
//  - trim_blocks: a `%}` or `#}` eats the one newline right after it (`+%}` keeps it);
//  - lstrip_blocks: spaces and tabs between the start of a line and `{%` or `{#` go
//    (`{%+` keeps them); `{{` is never lstripped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::jinja {

enum class tok { TEXT, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INT, FLOAT, OP, END };

struct token {
    tok         type = tok::END;
    std::string text;  // TEXT: the text; NAME/OP: the spelling; STRING: the unescaped value
    int64_t     ival = 0;
    double      fval = 0;
    size_t      at   = 0;  // byte offset in the normalized source
};

// The source as jinja2 sees it (newlines normalized, one trailing newline dropped).
std::string normalize_source(std::string_view source);

// Tokens of a normalized source, ending with one END token. Throws sluice::error naming the
// line and column of an unclosed tag, a bad character or a bad literal.
std::vector<token> lex(const std::string & source);

// "line L:C" (1-based) of a byte offset, for messages.
std::string where(const std::string & source, size_t at);

}  // namespace sluice::jinja
