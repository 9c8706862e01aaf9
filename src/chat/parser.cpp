// The template parser (see parser.h). The expression grammar follows jinja2's Parser method
// by method; statements are the subset chat templates use: if/elif/else, for (with a filter
// and else), set (plain, namespace attribute, unpacking, block), macro, filter blocks and the
// loopcontrols break/continue. Other tags are refused by name.
#include "chat/parser.h"

#include "util/error.h"

#include <initializer_list>

namespace sluice::jinja {

namespace {

// Expression and block nesting together; jinja2 itself is limited by Python's recursion limit.
constexpr int k_max_nesting = 200;

class parser {
  public:
    parser(const std::string & src, std::vector<token> toks) : src_(src), toks_(std::move(toks)) {}

    body run() {
        body b = subparse({});
        if (cur().type != tok::END) {
            error(cur().at, "unexpected '" + cur().text + "' tag");
        }
        return b;
    }

  private:
    const std::string & src_;
    std::vector<token>  toks_;
    size_t              k_          = 0;
    int                 depth_      = 0;
    int                 loop_depth_ = 0;

    struct nest {
        explicit nest(parser & p) : p_(p) {
            if (++p_.depth_ > k_max_nesting) {
                p_.error(p_.cur().at, "template nested deeper than " + std::to_string(k_max_nesting) + " levels");
            }
        }
        ~nest() { --p_.depth_; }
        nest(const nest &)               = delete;
        nest &   operator=(const nest &) = delete;
        parser & p_;
    };

    [[noreturn]] void error(size_t at, const std::string & what) const {
        fail("chat template {}: {}", where(src_, at), what);
    }

    const token & cur() const { return toks_[k_]; }
    const token & peek(size_t n = 1) const { return toks_[std::min(k_ + n, toks_.size() - 1)]; }
    const token & next() {
        const token & t = toks_[k_];
        if (k_ + 1 < toks_.size()) {
            ++k_;
        }
        return t;
    }
    bool is_op(std::string_view op) const { return cur().type == tok::OP && cur().text == op; }
    bool is_name(std::string_view n) const { return cur().type == tok::NAME && cur().text == n; }
    bool skip_op(std::string_view op) {
        if (is_op(op)) {
            next();
            return true;
        }
        return false;
    }
    bool skip_name(std::string_view n) {
        if (is_name(n)) {
            next();
            return true;
        }
        return false;
    }

    static std::string describe(const token & t) {
        switch (t.type) {
            case tok::END:
                return "end of template";
            case tok::VAR_END:
                return "'}}'";
            case tok::BLOCK_END:
                return "'%}'";
            case tok::STRING:
                return "string literal";
            case tok::TEXT:
                return "text";
            default:
                return "'" + t.text + "'";
        }
    }

    void expect_op(std::string_view op) {
        if (!skip_op(op)) {
            error(cur().at, "expected '" + std::string(op) + "', got " + describe(cur()));
        }
    }
    std::string expect_name() {
        if (cur().type != tok::NAME) {
            error(cur().at, "expected a name, got " + describe(cur()));
        }
        return next().text;
    }
    void expect(tok type, std::string_view what) {
        if (cur().type != type) {
            error(cur().at, "expected " + std::string(what) + ", got " + describe(cur()));
        }
        next();
    }

    static expr_ptr make(ex kind, size_t at) {
        auto e  = std::make_unique<expr>();
        e->kind = kind;
        e->at   = at;
        return e;
    }
    static expr_ptr make2(ex kind, size_t at, expr_ptr a, expr_ptr b) {
        auto e = make(kind, at);
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return e;
    }

    // ---- statements -------------------------------------------------------------------

    // Statements until a `{% name %}` whose name is in `ends` (left as the current token, after
    // its `{%`) or the end of the template when `ends` is empty.
    body subparse(std::initializer_list<std::string_view> ends) {
        nest guard(*this);
        body out;
        for (;;) {
            const token & t = cur();
            if (t.type == tok::END) {
                if (ends.size() != 0) {
                    std::string want;
                    for (std::string_view e : ends) {
                        want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
                    }
                    error(t.at, "unexpected end of template, looking for " + want);
                }
                return out;
            }
            if (t.type == tok::TEXT) {
                auto s  = std::make_unique<stmt>();
                s->kind = st::TEXT;
                s->at   = t.at;
                s->text = t.text;
                out.push_back(std::move(s));
                next();
            } else if (t.type == tok::VAR_BEGIN) {
                next();
                auto s  = std::make_unique<stmt>();
                s->kind = st::OUTPUT;
                s->at   = t.at;
                s->exprs.push_back(parse_tuple(true, false));
                expect(tok::VAR_END, "'}}'");
                out.push_back(std::move(s));
            } else if (t.type == tok::BLOCK_BEGIN) {
                next();
                if (cur().type == tok::NAME) {
                    for (std::string_view e : ends) {
                        if (cur().text == e) {
                            return out;
                        }
                    }
                }
                out.push_back(statement());
                expect(tok::BLOCK_END, "'%}'");
            } else {
                error(t.at, "unexpected " + describe(t));
            }
        }
    }

    // Consumes `name %}` of an end or middle tag.
    void end_tag() {
        next();
        expect(tok::BLOCK_END, "'%}'");
    }

    stmt_ptr statement() {
        const token & t = cur();
        if (t.type != tok::NAME) {
            error(t.at, "expected a tag name, got " + describe(t));
        }
        const std::string name = t.text;
        if (name == "if") {
            return if_stmt();
        }
        if (name == "for") {
            return for_stmt();
        }
        if (name == "set") {
            return set_stmt();
        }
        if (name == "macro") {
            return macro_stmt();
        }
        if (name == "filter") {
            return filter_stmt();
        }
        if (name == "break" || name == "continue") {
            if (loop_depth_ == 0) {
                error(t.at, "'" + name + "' outside of a loop");
            }
            next();
            auto s  = std::make_unique<stmt>();
            s->kind = name == "break" ? st::BREAK : st::CONTINUE;
            s->at   = t.at;
            return s;
        }
        static constexpr std::string_view known_unsupported[] = {
            "call", "include", "import", "from", "extends", "block", "raw", "with", "autoescape", "do", "generation"};
        for (std::string_view u : known_unsupported) {
            if (name == u) {
                error(t.at, "unsupported tag '" + name + "'");
            }
        }
        error(t.at, "unknown tag '" + name + "'");
    }

    stmt_ptr if_stmt() {
        auto s  = std::make_unique<stmt>();
        s->kind = st::IF;
        s->at   = next().at;
        for (;;) {
            s->exprs.push_back(parse_tuple(false, false));
            expect(tok::BLOCK_END, "'%}'");
            s->bodies.push_back(subparse({"elif", "else", "endif"}));
            if (is_name("elif")) {
                next();
                continue;
            }
            if (is_name("else")) {
                end_tag();
                s->bodies.push_back(subparse({"endif"}));
            }
            next();  // endif; its %} is taken by the caller
            return s;
        }
    }

    // A name, or names separated by commas, optionally in parentheses (for unpacking).
    std::vector<std::string> assign_targets() {
        std::vector<std::string> names;
        const bool               paren = skip_op("(");
        for (;;) {
            names.push_back(expect_name());
            if (!skip_op(",")) {
                break;
            }
            if (cur().type != tok::NAME) {
                break;  // trailing comma
            }
        }
        if (paren) {
            expect_op(")");
        }
        return names;
    }

    stmt_ptr for_stmt() {
        auto s     = std::make_unique<stmt>();
        s->kind    = st::FOR;
        s->at      = next().at;
        s->targets = assign_targets();
        if (!skip_name("in")) {
            error(cur().at, "expected 'in' in for loop, got " + describe(cur()));
        }
        s->exprs.push_back(parse_tuple(false, false, "recursive"));
        s->exprs.push_back(skip_name("if") ? parse_expression(true) : nullptr);
        if (is_name("recursive")) {
            error(cur().at, "unsupported recursive for loop");
        }
        expect(tok::BLOCK_END, "'%}'");
        ++loop_depth_;
        s->bodies.push_back(subparse({"endfor", "else"}));
        --loop_depth_;
        if (is_name("else")) {
            end_tag();
            s->bodies.push_back(subparse({"endfor"}));
        }
        next();
        return s;
    }

    stmt_ptr set_stmt() {
        auto s  = std::make_unique<stmt>();
        s->kind = st::SET;
        s->at   = next().at;
        if (cur().type == tok::NAME && peek().type == tok::OP && peek().text == "." && peek(2).type == tok::NAME) {
            s->targets.push_back(next().text);
            next();
            s->attr = next().text;
        } else {
            s->targets = assign_targets();
        }
        if (skip_op("=")) {
            s->exprs.push_back(parse_tuple(true, false));
            return s;
        }
        if (!s->attr.empty() || s->targets.size() != 1) {
            error(cur().at, "expected '=' in set");
        }
        s->kind = st::SET_BLOCK;
        s->exprs.push_back(is_op("|") ? parse_filter(nullptr) : nullptr);
        expect(tok::BLOCK_END, "'%}'");
        s->bodies.push_back(subparse({"endset"}));
        next();
        return s;
    }

    stmt_ptr macro_stmt() {
        auto s  = std::make_unique<stmt>();
        s->kind = st::MACRO;
        s->at   = next().at;
        s->text = expect_name();
        expect_op("(");
        while (!skip_op(")")) {
            if (!s->targets.empty()) {
                expect_op(",");
                if (skip_op(")")) {
                    break;
                }
            }
            s->targets.push_back(expect_name());
            s->exprs.push_back(skip_op("=") ? parse_expression(true) : nullptr);
        }
        expect(tok::BLOCK_END, "'%}'");
        const int saved = loop_depth_;
        loop_depth_     = 0;  // a loop around the definition is not a loop around its body
        s->bodies.push_back(subparse({"endmacro"}));
        loop_depth_ = saved;
        next();
        return s;
    }

    stmt_ptr filter_stmt() {
        auto s  = std::make_unique<stmt>();
        s->kind = st::FILTER_BLOCK;
        s->at   = next().at;
        s->exprs.push_back(parse_filter(nullptr, true));
        expect(tok::BLOCK_END, "'%}'");
        s->bodies.push_back(subparse({"endfilter"}));
        next();
        return s;
    }

    // ---- expressions ------------------------------------------------------------------

    // parse_tuple: `a` or `a, b, ...` (a tuple) up to the end of the tag or a ')'.
    expr_ptr parse_tuple(bool with_condexpr, bool explicit_parens, std::string_view extra_end = {}) {
        const size_t          at = cur().at;
        std::vector<expr_ptr> items;
        bool                  is_tuple = false;
        for (;;) {
            if (!items.empty()) {
                expect_op(",");
            }
            const token & t = cur();
            if (t.type == tok::VAR_END || t.type == tok::BLOCK_END || (t.type == tok::OP && t.text == ")") ||
                (!extra_end.empty() && t.type == tok::NAME && t.text == extra_end)) {
                break;
            }
            items.push_back(parse_expression(with_condexpr));
            if (!is_op(",")) {
                break;
            }
            is_tuple = true;
        }
        if (!is_tuple) {
            if (!items.empty()) {
                return std::move(items[0]);
            }
            if (!explicit_parens) {
                error(cur().at, "expected an expression, got " + describe(cur()));
            }
        }
        auto e  = make(ex::TUPLE, at);
        e->args = std::move(items);
        return e;
    }

    expr_ptr parse_expression(bool with_condexpr) {
        nest guard(*this);
        return with_condexpr ? parse_condexpr() : parse_or();
    }

    expr_ptr parse_condexpr() {
        const size_t at    = cur().at;
        expr_ptr     expr1 = parse_or();
        while (skip_name("if")) {
            expr_ptr expr2 = parse_or();
            expr_ptr expr3 = skip_name("else") ? parse_condexpr() : nullptr;
            auto     e     = make(ex::CONDEXPR, at);
            e->args.push_back(std::move(expr1));
            e->args.push_back(std::move(expr2));
            e->args.push_back(std::move(expr3));
            expr1 = std::move(e);
        }
        return expr1;
    }

    expr_ptr parse_or() {
        expr_ptr left = parse_and();
        while (is_name("or")) {
            const size_t at = next().at;
            left            = make2(ex::OR, at, std::move(left), parse_and());
        }
        return left;
    }

    expr_ptr parse_and() {
        expr_ptr left = parse_not();
        while (is_name("and")) {
            const size_t at = next().at;
            left            = make2(ex::AND, at, std::move(left), parse_not());
        }
        return left;
    }

    expr_ptr parse_not() {
        if (is_name("not")) {
            nest         guard(*this);
            const size_t at = next().at;
            auto         e  = make(ex::NOT, at);
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    expr_ptr parse_compare() {
        const size_t at   = cur().at;
        expr_ptr     left = parse_math1();
        expr_ptr     cmp;
        for (;;) {
            std::string op;
            if (cur().type == tok::OP && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                          cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
                op = next().text;
            } else if (skip_name("in")) {
                op = "in";
            } else if (is_name("not") && peek().type == tok::NAME && peek().text == "in") {
                next();
                next();
                op = "notin";
            } else {
                break;
            }
            if (!cmp) {
                cmp = make(ex::COMPARE, at);
                cmp->args.push_back(std::move(left));
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(left);
    }

    expr_ptr binary_chain(std::initializer_list<std::string_view> ops, expr_ptr (parser::*operand)()) {
        expr_ptr left = (this->*operand)();
        for (;;) {
            bool hit = false;
            for (std::string_view op : ops) {
                if (is_op(op)) {
                    const size_t at = cur().at;
                    next();
                    auto e  = make2(ex::BINARY, at, std::move(left), (this->*operand)());
                    e->name = std::string(op);
                    left    = std::move(e);
                    hit     = true;
                    break;
                }
            }
            if (!hit) {
                return left;
            }
        }
    }

    expr_ptr parse_math1() { return binary_chain({"+", "-"}, &parser::parse_concat); }
    expr_ptr parse_concat() { return binary_chain({"~"}, &parser::parse_math2); }
    expr_ptr parse_math2() { return binary_chain({"*", "/", "//", "%"}, &parser::parse_pow); }
    expr_ptr parse_pow() { return binary_chain({"**"}, &parser::parse_unary_filtered); }
    expr_ptr parse_unary_filtered() { return parse_unary(true); }

    expr_ptr parse_unary(bool with_filter) {
        nest         guard(*this);
        const size_t at = cur().at;
        expr_ptr     node;
        if (is_op("-") || is_op("+")) {
            const bool neg = next().text == "-";
            node           = make(neg ? ex::NEG : ex::POS, at);
            node->args.push_back(parse_unary(false));
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) {
            node = parse_filter_expr(std::move(node));
        }
        return node;
    }

    expr_ptr parse_primary() {
        const token & t = cur();
        if (t.type == tok::NAME) {
            next();
            auto e = make(ex::CONST, t.at);
            if (t.text == "true" || t.text == "True") {
                e->constant = value::boolean(true);
            } else if (t.text == "false" || t.text == "False") {
                e->constant = value::boolean(false);
            } else if (t.text == "none" || t.text == "None") {
                e->constant = value::none();
            } else {
                e->kind = ex::NAME;
                e->name = t.text;
            }
            return e;
        }
        if (t.type == tok::STRING) {
            auto        e = make(ex::CONST, t.at);
            std::string s;
            while (cur().type == tok::STRING) {  // adjacent literals concatenate
                s += next().text;
            }
            e->constant = value::string(std::move(s));
            return e;
        }
        if (t.type == tok::INT || t.type == tok::FLOAT) {
            auto e      = make(ex::CONST, t.at);
            e->constant = t.type == tok::INT ? value::integer(t.ival) : value::number(t.fval);
            next();
            return e;
        }
        if (is_op("(")) {
            next();
            expr_ptr e = parse_tuple(true, true);
            expect_op(")");
            return e;
        }
        if (is_op("[")) {
            auto e = make(ex::LIST, next().at);
            while (!skip_op("]")) {
                if (!e->args.empty()) {
                    expect_op(",");
                    if (skip_op("]")) {
                        break;
                    }
                }
                e->args.push_back(parse_expression(true));
            }
            return e;
        }
        if (is_op("{")) {
            auto e = make(ex::DICT, next().at);
            while (!skip_op("}")) {
                if (!e->args.empty()) {
                    expect_op(",");
                    if (skip_op("}")) {
                        break;
                    }
                }
                e->args.push_back(parse_expression(true));
                expect_op(":");
                e->args.push_back(parse_expression(true));
            }
            return e;
        }
        error(t.at, "unexpected " + describe(t) + " in expression");
    }

    // A chain (x.a.b(c)[d]... or x|f|g) is flat in the grammar but each link nests the tree one
    // level deeper, and the checks and the destructor walk it recursively: it counts as nesting.
    void count_link(int & links) const {
        if (++links + depth_ > k_max_nesting) {
            error(cur().at, "expression nested deeper than " + std::to_string(k_max_nesting) + " levels");
        }
    }

    expr_ptr parse_postfix(expr_ptr node) {
        for (int links = 0;; count_link(links)) {
            if (is_op(".") || is_op("[")) {
                node = parse_subscript(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    expr_ptr parse_filter_expr(expr_ptr node) {
        for (int links = 0;; count_link(links)) {
            if (is_op("|")) {
                node = parse_filter(std::move(node));
            } else if (is_name("is")) {
                node = parse_test(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    expr_ptr parse_subscript(expr_ptr node) {
        nest          guard(*this);
        const token & t = next();
        if (t.text == ".") {
            const token & a = next();
            if (a.type == tok::NAME) {
                auto e  = make(ex::GETATTR, t.at);
                e->name = a.text;
                e->args.push_back(std::move(node));
                return e;
            }
            if (a.type != tok::INT) {
                error(a.at, "expected a name or number after '.'");
            }
            auto idx      = make(ex::CONST, a.at);
            idx->constant = value::integer(a.ival);
            return make2(ex::GETITEM, t.at, std::move(node), std::move(idx));
        }
        // '[': an index or a slice.
        std::vector<expr_ptr> parts;
        bool                  is_slice = false;
        if (!is_op(":")) {
            parts.push_back(parse_expression(true));
        } else {
            parts.push_back(nullptr);
        }
        if (skip_op(":")) {
            is_slice = true;
            parts.push_back(is_op(":") || is_op("]") ? nullptr : parse_expression(true));
            if (skip_op(":")) {
                parts.push_back(is_op("]") ? nullptr : parse_expression(true));
            } else {
                parts.push_back(nullptr);
            }
        }
        if (is_op(",")) {
            error(cur().at, "unsupported subscript with several indices");
        }
        expect_op("]");
        if (!is_slice) {
            return make2(ex::GETITEM, t.at, std::move(node), std::move(parts[0]));
        }
        auto e = make(ex::SLICE, t.at);
        e->args.push_back(std::move(node));
        for (auto & p : parts) {
            e->args.push_back(std::move(p));
        }
        return e;
    }

    // `( args, name=kw, ... )` into e->args (after what is already there) and e->kwargs.
    void parse_call_args(expr & e) {
        expect_op("(");
        bool need_comma = false;
        while (!is_op(")")) {
            if (need_comma) {
                expect_op(",");
                if (is_op(")")) {
                    break;
                }
            }
            if (is_op("*") || is_op("**")) {
                error(cur().at, "unsupported *args / **kwargs in call");
            }
            if (cur().type == tok::NAME && peek().type == tok::OP && peek().text == "=") {
                std::string key = next().text;
                next();
                e.kwargs.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!e.kwargs.empty()) {
                    error(cur().at, "positional argument after keyword argument");
                }
                e.args.push_back(parse_expression(true));
            }
            need_comma = true;
        }
        expect_op(")");
    }

    expr_ptr parse_call(expr_ptr node) {
        nest guard(*this);
        auto e = make(ex::CALL, cur().at);
        e->args.push_back(std::move(node));
        parse_call_args(*e);
        return e;
    }

    std::string dotted_name() {
        std::string name = expect_name();
        while (is_op(".")) {
            next();
            name += '.';
            name += expect_name();
        }
        return name;
    }

    // `| name(args)` repeated; `start_inline` when the first '|' is absent (filter blocks).
    expr_ptr parse_filter(expr_ptr node, bool start_inline = false) {
        while (is_op("|") || start_inline) {
            nest guard(*this);
            if (!start_inline) {
                next();
            }
            start_inline = false;
            auto e       = make(ex::FILTER, cur().at);
            e->name      = dotted_name();
            e->args.push_back(std::move(node));
            if (is_op("(")) {
                parse_call_args(*e);
            }
            node = std::move(e);
        }
        return node;
    }

    expr_ptr parse_test(expr_ptr node) {
        nest         guard(*this);
        const size_t at      = next().at;  // 'is'
        const bool   negated = skip_name("not");
        auto         e       = make(ex::TEST, at);
        e->name              = dotted_name();
        e->args.push_back(std::move(node));
        const token & t = cur();
        if (is_op("(")) {
            parse_call_args(*e);
        } else if ((t.type == tok::NAME || t.type == tok::STRING || t.type == tok::INT || t.type == tok::FLOAT ||
                    is_op("[") || is_op("{")) &&
                   !(is_name("else") || is_name("or") || is_name("and"))) {
            // One argument without parentheses: `x is divisibleby 3`, `x is sameas none`.
            if (is_name("is")) {
                error(t.at, "cannot chain tests with 'is'");
            }
            e->args.push_back(parse_postfix(parse_primary()));
        }
        if (!negated) {
            return e;
        }
        auto n = make(ex::NOT, at);
        n->args.push_back(std::move(e));
        return n;
    }
};

}  // namespace

body parse(const std::string & source) {
    return parser(source, lex(source)).run();
}

}  // namespace sluice::jinja
