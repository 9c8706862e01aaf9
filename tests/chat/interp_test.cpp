// The interpreter feature by feature: whitespace control, trim_blocks/lstrip_blocks, loop
// variables, scoping, namespace, macros, slices, Undefined, filters, tests, methods,
// operators and literals. Each expected string is what Python's jinja2 3.1.6 rendered for the
// same template and variables, configured as Hugging Face transformers configures it
// (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, tojson with ensure_ascii=False,
// strftime_now pinned to 2026-01-02 03:04:05).
#include "chat/chat_template.h"
#include "util/error.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

struct interp_case {
    const char * name;
    const char * source;
    const char * context;  // JSON object of template variables
    const char * expected;
};

const interp_case k_cases[] = {
    {"lstrip_and_trim_blocks", "a\n  {% if true %}\n    b\n  {% endif %}\nc", "{}", "a\n    b\nc"},
    {"for_lines", "{% for i in [1,2] %}\n{{ i }}\n{% endfor %}", "{}", "1\n2\n"},
    {"minus_strips_both_sides", "a  {%- if true -%}  b  {%- endif -%}  c", "{}", "abc"},
    {"plus_keeps_indent", "  {%+ if true %}x{% endif %}", "{}", "  x"},
    {"comment_line_vanishes", "a\n  {# comment #}\nb", "{}", "a\nb"},
    {"variable_strip", "a {{- ' b ' -}} c", "{}", "a b c"},
    {"variables_not_lstripped", "x\n    {{ 1 }}\n", "{}", "x\n    1"},
    {"plus_keeps_newline", "{% if true %}a{% endif +%}\nb", "{}", "a\nb"},
    {"newlines_normalized", "a\r\nb\rc\n\n", "{}", "a\nb\nc\n"},
    {"text_around_tag_kept", "  x {% if true %}  y  {% endif %}  \nz", "{}", "  x   y    \nz"},
    {"minus_comment", "a  {#- c -#}  b", "{}", "ab"},
    {"loop_counters",
     "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ "
     "loop.last }}{{ loop.length }};{% endfor %}",
     "{}", "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;"},
    {"loop_prev_next", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", "{}",
     "-2;1-3;2-;"},
    {"loop_filter", "{% for x in [1,2,3,4] if x is even %}{{ loop.index }}:{{ x }}/{{ loop.length }} {% endfor %}",
     "{}", "1:2/2 2:4/2 "},
    {"loop_unpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}", "{}", "a=1,b=2,"},
    {"loop_else", "{% for x in [] %}a{% else %}empty{% endfor %}", "{}", "empty"},
    {"loop_break_continue",
     "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% "
     "endfor %}",
     "{}", "0134"},
    {"loop_cycle", "{% for x in [1,2,3] %}{{ loop.cycle('a','b') }}{% endfor %}", "{}", "aba"},
    {"loop_scope", "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "{}", "231"},
    {"nested_loops",
     "{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}",
     "{}", "1x1 1y2 1|2x1 2y2 2|"},
    {"namespace",
     "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% "
     "endfor %}{{ ns.n }} {{ ns.s }}",
     "{}", "6 0123"},
    {"macro_defaults",
     "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} "
     "{{ greet(punct='.', name='c') }}",
     "{}", "Hi a! Hi b? Hi c."},
    {"macro_recursion",
     "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
     "{}", "120"},
    {"macro_sees_globals",
     "{% set g = 'G' %}{% macro m() %}{{ g }}{% set g = 'local' %}{{ g }}{% endmacro %}{{ m() }}{{ g }}", "{}",
     "GlocalG"},
    {"slices",
     "{{ [1,2,3,4,5][1:3] }} {{ [1,2,3,4,5][::-1] }} {{ [1,2,3,4,5][::2] }} {{ 'hello'[-3:] }} {{ 'hello'[:-1] }} {{ "
     "[1,2,3][5:] }} {{ 'héllo'[::-1] }} {{ 'héllo'[1] }} {{ [1,2,3,4,5][-2::-2] }}",
     "{}", "[2, 3] [5, 4, 3, 2, 1] [1, 3, 5] llo hell [] olléh é [4, 2]"},
    {"undefined_is_quiet",
     "[{{ nope }}] {{ nope is defined }} {{ nope | default('d') }} {{ nope | length }} {{ 'x' in nope }} {% for x in "
     "nope %}no{% endfor %}{{ nope ~ 'a' }} {{ nope is iterable }} {{ nope == nope }} {{ not nope }}",
     "{}", "[] False d 0 False a True True True"},
    {"missing_key_is_undefined",
     "{{ d.b is defined }} [{{ d.b }}] {{ d['b'] is undefined }} {{ d.a }} {{ d['a'] }} [{{ l[5] }}] {{ l[-1] }}",
     "{\"d\": {\"a\": 1}, \"l\": [1, 2]}", "False [] True 1 1 [] 2"},
    {"string_filters",
     "{{ '  hi  ' | trim }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello wORLD' | title }}|{{ 'hELLO' | "
     "capitalize }}|{{ [1,2,3] | length }}|{{ 'hé' | count }}|{{ [1,2,3] | first }}|{{ [1,2,3] | last }}|{{ [1,2,3] | "
     "join('-') }}|{{ 'xxhixx' | trim('x') }}",
     "{}", "hi|ABC|abc|Hello World|Hello|3|2|1|3|1-2-3|hi"},
    {"tojson",
     "{{ {'b': 1, 'a': 'é\\n\"'} | tojson }}|{{ [1, 2.5, none, true, 'x', 1e100] | tojson }}|{{ {'a': [1, {'b': 2}], "
     "'c': {}, 'd': []} | tojson(indent=2) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}",
     "{}",
     "{\"b\": 1, \"a\": \"é\\n\\\"\"}|[1, 2.5, null, true, \"x\", 1e+100]|{\n  \"a\": [\n    1,\n    {\n      \"b\": "
     "2\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}|{\"a\": 2, \"b\": 1}"},
    {"conversions",
     "{{ {'a': 1, 'b': 2} | items | list }}|{{ 'ab' | list }}|{{ 42 | string }}|{{ '42' | int + 1 }}|{{ '3.5' | float "
     "}}|{{ 'x' | int }}|{{ 3.9 | int }}|{{ 'aXbX' | replace('X', 'y') }}|{{ 'aXbX' | replace('X', 'y', 1) }}|{{ [1, "
     "'a'] | string }}",
     "{}", "[('a', 1), ('b', 2)]|['a', 'b']|42|43|3.5|0|3|ayby|aybX|[1, 'a']"},
    {"attr_filters",
     "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ msgs | "
     "rejectattr('role', 'equalto', 'user') | list | length }}|{{ [3, 1, 2] | sort }}|{{ [3, 1, 2] | "
     "sort(reverse=true) }}|{{ ['b', 'A', 'a'] | unique | list }}|{{ [1, 2] | reverse | list }}|{{ msgs | "
     "map(attribute='missing', default='-') | join }}|{{ msgs | sort(attribute='content') | map(attribute='content') | "
     "join }}",
     "{\"msgs\": [{\"role\": \"user\", \"content\": \"u1\"}, {\"role\": \"assistant\", \"content\": \"a1\"}, "
     "{\"role\": \"user\", \"content\": \"u2\"}]}",
     "u1,u2|1|[1, 2, 3]|[3, 2, 1]|['b', 'A']|[2, 1]|---|a1u1u2"},
    {"number_filters",
     "{{ 2.567 | round(2) }}|{{ 2.5 | round }}|{{ 2.1 | round(method='ceil') }}|{{ -3 | abs }}|{{ [1, 2, 3] | sum "
     "}}|{{ [3, 1, 2] | min }}|{{ [3, 1, 2] | max }}",
     "{}", "2.57|2.0|3.0|3|6|1|3"},
    {"indent_escape",
     "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ '<a href=\"x\">&\\'' | escape }}", "{}",
     "a\n  b\n\n  c|  a\n  b|&lt;a href=&#34;x&#34;&gt;&amp;&#39;"},
    {"select_map",
     "{{ ['a', 'b'] | map('upper') | join }}|{{ [1, 0, 2] | select | list }}|{{ [1, 2, 3, 4] | reject('odd') | list "
     "}}|{{ '' | default('empty', true) }}|{{ none | default('x') }}|{{ {'b': 1, 'a': 2} | dictsort }}",
     "{}", "AB|[1, 2]|[2, 4]|empty|None|[('a', 2), ('b', 1)]"},
    {"tests",
     "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ "
     "1.0 is float }}{{ 1 is integer }}{{ true is boolean }}{{ {} is mapping }}{{ [] is sequence }}{{ 'a' is iterable "
     "}}{{ 1 is iterable }}{{ x is undefined }}{{ 'a' is equalto 'a' }}{{ 2 is gt 1 }}{{ 'abc' is lower }}{{ false is "
     "false }}{{ 1 is in [1, 2] }}{{ 1 is not string }}{{ {} is sequence }}",
     "{}", "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueTrueTrueTrueTrueTrueTrueTrue"},
    {"str_methods",
     "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b "
     "c'.split(' ', 1) }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'Hi'.upper() }}{{ "
     "'Hi'.lower() }}|{{ 'a-b'.replace('-', '+') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'x\\n\\n'.rstrip() }}|{{ "
     "'a</think>b'.split('</think>')[-1] }}|{{ 'abcb'.find('b') }}|{{ ', '.join(['a', 'b']) }}",
     "{}", "a b|a|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|True|True|HIhi|a+b|x\n|x|b|1|a, b"},
    {"dict_methods",
     "{% set d = {'a': 1, 'b': 2} %}{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('z') }}{{ "
     "d.get('z', 0) }}{{ d.items() | list }}",
     "{}", "['a', 'b'][1, 2]1None0[('a', 1), ('b', 2)]"},
    {"arithmetic",
     "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ -2 ** 2 "
     "}} {{ 7 / 2 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 1 + true }} {{ 1.5 + 1 }}",
     "{}", "7 9 3 -4 1 2 1024 4 3.5 a1None abab [1, 2] 2 2.5"},
    {"logic",
     "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'b' > 'a' }} {{ 'a' in 'cat' }} {{ 3 not in [1, 2] }} {{ not "
     "true }} {{ 0 or 'x' }} {{ 1 and 'y' }} {{ 'yes' if 1 > 2 else 'no' }} [{{ 'yes' if false }}] {{ not 1 == 2 }} {{ "
     "[1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }}",
     "{}", "True False True True True True False x y no [] True True True"},
    {"literals",
     "{{ (1, 2) }} {{ (1,) }} {{ [1, 'a', none, true, 1.5] }} {{ {'a': 1, 2: 'b'} }} {{ \"it's\" }} {{ 'a' 'b' }} {{ "
     "0.1 + 0.2 }} {{ 1e20 * 10 }} {{ 1/3 }} {{ 10 / 5 }} {{ 1_000 }} {{ 0x1f }} {{ 1e-7 }} {{ [] }} {{ True }}{{ None "
     "}}",
     "{}",
     "(1, 2) (1,) [1, 'a', None, True, 1.5] {'a': 1, 2: 'b'} it's ab 0.30000000000000004 1e+21 0.3333333333333333 2.0 "
     "1000 31 1e-07 [] TrueNone"},
    {"set_and_filter_blocks",
     "{% set x %}hello {{ 1 }}{% endset %}[{{ x }}]{% filter upper %}abc{{ 'd' }}{% endfilter %}{% set a, b = [1, 2] "
     "%}{{ a }}{{ b }}{% set y | trim %}  t  {% endset %}[{{ y }}]",
     "{}", "[hello 1]ABCD12[t]"},
    {"string_escapes", "{{ 'a\\tb\\u00e9\\x41\\\\\\'\\q' }}|{{ \"\\\"\" }}", "{}", "a\tbéA\\'\\q|\""},
    {"strftime_now",
     "{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%B %d, %Y') }} {{ strftime_now('%A %b %-d') }}", "{}",
     "2026-01-02 03:04:05 January 02, 2026 Friday Jan 2"},
};

class chat_interp : public testing::TestWithParam<interp_case> {};

TEST_P(chat_interp, matches_jinja2) {
    const interp_case & c = GetParam();
    chat_render_options opt;
    opt.now           = 1767323045;  // 2026-01-02 03:04:05 UTC
    opt.extra_context = nlohmann::json::parse(c.context);
    const chat_template tmpl(c.source);
    EXPECT_EQ(tmpl.render_json(nlohmann::json::array(), opt), c.expected) << c.source;
}

INSTANTIATE_TEST_SUITE_P(cases, chat_interp, testing::ValuesIn(k_cases),
                         [](const testing::TestParamInfo<interp_case> & info) { return std::string(info.param.name); });

}  // namespace
}  // namespace sluice
