// Bad templates and bad uses: each must end in sluice::error whose message names the problem
// and where it is (line:column), never a crash, a hang or unbounded memory. Parse errors come
// from the constructor; runtime errors from render. The cases where jinja2 itself raises are
// checked to raise here too.
#include "chat/chat_template.h"
#include "util/error.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

std::string render(const std::string & source, const nlohmann::json & context = nlohmann::json::object()) {
    chat_render_options opt;
    opt.now           = 0;
    opt.extra_context = context;
    return chat_template(source).render_json(nlohmann::json::array(), opt);
}

// The message of the sluice::error that fn throws ("" when it does not throw).
template <typename F>
std::string error_of(F fn) {
    try {
        fn();
    } catch (const sluice::error & e) {
        return e.what();
    }
    return "";
}

void expect_parse_error(const std::string & source, const std::string & needle) {
    const std::string msg = error_of([&] { chat_template t(source); });
    EXPECT_NE(msg.find(needle), std::string::npos) << "source: " << source << "\nmessage: " << msg;
}

void expect_render_error(const std::string & source, const std::string & needle,
                         const nlohmann::json & context = nlohmann::json::object()) {
    const std::string msg = error_of([&] { render(source, context); });
    EXPECT_NE(msg.find(needle), std::string::npos) << "source: " << source << "\nmessage: " << msg;
}

TEST(chat_errors, syntax_errors_name_construct_and_position) {
    expect_parse_error("{% if x %}a", "line 1:12: unexpected end of template, looking for 'elif' or 'else' or 'endif'");
    expect_parse_error("ab\n  {% for x in y %}", "looking for 'endfor' or 'else'");
    expect_parse_error("{{ x ", "line 1:1: unclosed '{{'");
    expect_parse_error("a\n{% if x ", "line 2:1: unclosed '{%'");
    expect_parse_error("{# never closed", "unclosed comment");
    expect_parse_error("{% endif %}", "unknown tag 'endif'");
    expect_parse_error("{% frobnicate %}", "unknown tag 'frobnicate'");
    expect_parse_error("{% include 'x.j2' %}", "unsupported tag 'include'");
    expect_parse_error("{% for x in y recursive %}{% endfor %}", "recursive");
    expect_parse_error("{{ 'abc }}", "unterminated string");
    expect_parse_error("{{ 1 + }}", "line 1:8: unexpected '}}'");
    expect_parse_error("{{ a b }}", "expected '}}'");
    expect_parse_error("{{ x $ y }}", "unexpected character '$'");
    expect_parse_error("{% break %}", "'break' outside of a loop");
    expect_parse_error("{{ f(a=1, 2) }}", "positional argument after keyword");
    expect_parse_error("{{ 99999999999999999999 }}", "integer literal too large");
    expect_parse_error("{{ '\\x4' }}", "truncated \\x escape");
}

TEST(chat_errors, unknown_filters_and_tests_are_refused_when_parsed) {
    // jinja2 3.x refuses these when it compiles the template where they would always run
    expect_parse_error("{{ x | frobnicate }}", "line 1:8: unknown filter 'frobnicate'");
    expect_parse_error("\n{{ x is frobnicated }}", "line 2:6: unknown test 'frobnicated'");
    expect_parse_error("{% for m in xs %}{{ m | frobnicate }}{% endfor %}", "unknown filter 'frobnicate'");
}

// ... but inside if/elif/else blocks and conditional expressions only when that code runs
// (pallets/jinja#1248, in 3.0.0): a branch never taken costs nothing.
TEST(chat_errors, unknown_filters_in_branches_fail_only_when_run) {
    EXPECT_EQ(render("{% if false %}{{ x | frobnicate }}{% elif false %}{{ x is frobnicated }}{% else %}ok{% endif %}"),
              "ok");
    EXPECT_EQ(render("{{ 'a' | frobnicate if false else 'b' }}"), "b");
    expect_render_error("{% if true %}{{ 'x' | frobnicate }}{% endif %}", "line 1:23: unknown filter 'frobnicate'");
    expect_render_error("{{ 'a' if false else 'b' is frobnicated }}", "unknown test 'frobnicated'");
}

// from_json (not a jinja2 builtin; templates that receive tool-call arguments as a JSON string
// use it): the value the JSON describes, keys in their order; bad or too deeply nested JSON is a
// render error, not a crash.
TEST(chat_errors, from_json_parses_or_says_why_not) {
    EXPECT_EQ(render("{{ ('{\"a\": [1, 2], \"b\": \"x\"}' | from_json).a[1] }}"), "2");
    EXPECT_EQ(render("{{ args | from_json | tojson }}", {{"args", "{\"z\":1,\"a\":[true,null]}"}}),
              "{\"z\": 1, \"a\": [true, null]}");
    expect_render_error("{{ '{\"a\": ' | from_json }}", "from_json: not valid JSON");
    expect_render_error("{{ 3 | from_json }}", "from_json: expected a string, got 3");
    expect_render_error("{{ s | from_json }}", "nested deeper than 64",
                        {{"s", std::string(100, '[') + std::string(100, ']')}});
}

TEST(chat_errors, undefined_misuse_is_an_error) {
    expect_render_error("{{ nope.attr }}", "UndefinedError: 'nope' is undefined");
    expect_render_error("{{ nope['k'] }}", "UndefinedError: 'nope' is undefined");
    expect_render_error("{{ nope + 1 }}", "'nope' is undefined");
    expect_render_error("{{ d.missing.deeper }}", "'dict object' has no attribute 'missing'", {{"d", {{"a", 1}}}});
    expect_render_error("{{ nope() }}", "'nope' is undefined");
    expect_render_error("{{ nope | tojson }}", "not JSON serializable");
}

TEST(chat_errors, type_errors) {
    expect_render_error("{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'");
    expect_render_error("{{ none + 1 }}", "'NoneType' and 'int'");
    expect_render_error("{{ 1 // 0 }}", "division by zero");
    expect_render_error("{{ 1 % 0 }}", "division by zero");
    expect_render_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
    expect_render_error("{{ 2 ** 64 }}", "integer overflow");
    expect_render_error("{{ 1 < 'a' }}", "'<' not supported between instances of 'int' and 'str'");
    expect_render_error("{{ 1 in 'abc' }}", "requires string as left operand");
    expect_render_error("{% for x in 5 %}{% endfor %}", "'int' object is not iterable");
    expect_render_error("{{ [1][::0] }}", "slice step cannot be zero");
    expect_render_error("{{ 5() }}", "'int' object is not callable");
    expect_render_error("{% set x = 1 %}{% set x.y = 2 %}", "non-namespace");
    expect_render_error("{% set a, b = [1, 2, 3] %}", "cannot unpack 3 values into 2 names");
    expect_render_error("{{ 'abc'.split('') }}", "empty separator");
    expect_render_error("{{ 'a'.strip(1, 2) }}", "strip() takes at most 1 argument(s), got 2");
    expect_render_error("{{ [1] | join(x=1) }}", "unexpected keyword argument 'x'");
    expect_render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "takes not more than 1 argument(s)");
    expect_render_error("{{ 5 | items }}", "can only get item pairs from a mapping");
}

TEST(chat_errors, raise_exception_carries_the_message_and_position) {
    const std::string msg = error_of([] { render("ok\n  {{ raise_exception('Roles must alternate') }}"); });
    EXPECT_NE(msg.find("TemplateError: Roles must alternate"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2:"), std::string::npos) << msg;
}

TEST(chat_errors, deep_nesting_is_refused_not_a_stack_overflow) {
    const int n = 100000;
    expect_parse_error("{{ " + std::string(n, '(') + "1" + std::string(n, ')') + " }}", "nested deeper");
    expect_parse_error("{{ " + std::string(n, '[') + std::string(n, ']') + " }}", "nested deeper");
    expect_parse_error("{{ " + std::string(n, '-') + "1 }}", "nested deeper");
    std::string nots = "{{ ";
    for (int k = 0; k < n; ++k) {
        nots += "not ";
    }
    expect_parse_error(nots + "1 }}", "nested deeper");
    std::string ifs;
    for (int k = 0; k < n; ++k) {
        ifs += "{% if true %}";
    }
    expect_parse_error(ifs, "nested deeper");
    std::string attrs = "{{ x";
    for (int k = 0; k < n; ++k) {
        attrs += ".a";
    }
    // A long postfix chain is flat in the grammar but deep in the tree; it must still end
    // in an error or a result, not a crash.
    const std::string msg = error_of([&] { render(attrs + " }}"); });
    EXPECT_FALSE(msg.empty());
}

TEST(chat_errors, runaway_work_is_bounded) {
    expect_render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                        "steps (runaway loop?)");
    expect_render_error("{{ range(100000000) | length }}", "range() longer than");
    expect_render_error(
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "larger than");
    expect_render_error("{{ 'x' * 100000000000 }}", "repetition result too large");
    expect_render_error("{{ [1, 2] * 100000000000 }}", "repetition result too large");
    expect_render_error(
        "{% for i in range(1000) %}{% for j in range(1000) %}{{ 'abcdefghij' * 10 }}{% endfor %}{% endfor %}",
        "output larger than");
    expect_render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursed deeper than");
    expect_render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed deeper than");
}

// A container that holds itself would be a shared_ptr cycle, never freed (a leak per render,
// which the ASan fuzz build reports): the mutation that would close the cycle is refused,
// directly or through other containers (issue 16 item 9).
TEST(chat_errors, a_container_cannot_contain_itself) {
    expect_render_error("{% set l = [] %}{% set _ = l.append(l) %}{{ l }}", "a list cannot contain itself");
    expect_render_error("{% set l = [] %}{% set m = [l] %}{% set _ = l.append(m) %}", "a list cannot contain itself");
    expect_render_error("{% set l = [] %}{% set _ = l.append({'k': [1, l]}) %}", "a list cannot contain itself");
    expect_render_error("{% set ns = namespace(x=[]) %}{% set _ = ns.x.append(ns) %}", "a list cannot contain itself");
    expect_render_error("{% set ns = namespace() %}{% set ns.me = ns %}", "a namespace cannot contain itself");
    expect_render_error("{% set ns = namespace() %}{% set ns.me = [[ns]] %}", "a namespace cannot contain itself");
    // The same list twice, or a list inside another, is no cycle.
    EXPECT_EQ(render("{% set l = [1] %}{% set m = [] %}{% set _ = m.append(l) %}{% set _ = m.append(l) %}{{ m }}"),
              "[[1], [1]]");
    EXPECT_EQ(render("{% set ns = namespace(a=[]) %}{% set ns.b = ns.a %}{% set _ = ns.a.append(2) %}{{ ns.b }}"),
              "[2]");
}

TEST(chat_errors, bad_inputs_to_the_api) {
    chat_render_options opt;
    const chat_template t("{{ messages | length }}");
    EXPECT_THROW(t.render_json(nlohmann::json::object(), opt), sluice::error);
    opt.extra_context = nlohmann::json::array();
    EXPECT_THROW(t.render_json(nlohmann::json::array(), opt), sluice::error);
    EXPECT_THROW(chat_template(std::string(5u << 20, 'x')), sluice::error);
}

TEST(chat_errors, malformed_utf8_does_not_crash) {
    const std::string bad = "\xff\xfe{{ 'a\xc3' | length }}\xe2\x82";
    EXPECT_EQ(render(bad),
              "\xff\xfe"
              "2\xe2\x82");
    EXPECT_EQ(render("{{ s[::-1] | length }}{{ s | trim }}", {{"s", "\xc3"}}).size(), 4u);
}

}  // namespace
}  // namespace sluice
