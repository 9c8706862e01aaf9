// The template lexer (see lexer.h for the whitespace rules it reproduces).
#include "chat/lexer.h"

#include "chat/pystr.h"
#include "util/error.h"

#include <cmath>
#include <cstdlib>

namespace sluice::jinja {

namespace {

constexpr size_t k_max_source = 4u << 20;  // real templates are under 100 KiB

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}
int hex_value(char c) {
    if (is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Python's str.rstrip() on the text before a `{%-` tag.
std::string rstrip_ws(std::string_view s) {
    return py_strip(s, std::nullopt, strip_side::RIGHT);
}

// True when the whole of s is whitespace (jinja2's `\s+` fullmatch; s non-empty).
bool all_space(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (char32_t c : to_u32(s)) {
        if (!py_isspace(c)) {
            return false;
        }
    }
    return true;
}

class lexer {
  public:
    explicit lexer(const std::string & src) : src_(src) {}

    std::vector<token> run() {
        while (pos_ < src_.size()) {
            root();
        }
        push(tok::END, "", src_.size());
        return std::move(out_);
    }

  private:
    const std::string & src_;
    size_t              pos_ = 0;
    std::vector<token>  out_;

    [[noreturn]] void error(size_t at, std::string_view what) const {
        fail("chat template {}: {}", where(src_, at), what);
    }

    token & push(tok type, std::string text, size_t at) {
        token t;
        t.type = type;
        t.text = std::move(text);
        t.at   = at;
        out_.push_back(std::move(t));
        return out_.back();
    }

    // Text up to the next tag, then the tag.
    void root() {
        size_t begin = std::string::npos;
        for (size_t p = src_.find('{', pos_); p != std::string::npos; p = src_.find('{', p + 1)) {
            if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) {
                begin = p;
                break;
            }
        }
        if (begin == std::string::npos) {
            push(tok::TEXT, src_.substr(pos_), pos_);
            pos_ = src_.size();
            return;
        }
        const char  type          = src_[begin + 1];
        const char  sign          = begin + 2 < src_.size() ? src_[begin + 2] : '\0';
        const bool  line_starting = pos_ == 0 || src_[pos_ - 1] == '\n';
        std::string text          = src_.substr(pos_, begin - pos_);
        if (sign == '-') {
            text = rstrip_ws(text);
        } else if (sign != '+' && type != '{') {
            // lstrip_blocks: drop the indentation of a line that holds only this tag so far.
            const size_t nl    = text.rfind('\n');
            const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
            if ((l_pos > 0 || line_starting) && all_space(std::string_view(text).substr(l_pos))) {
                text.resize(l_pos);
            }
        }
        if (!text.empty()) {
            push(tok::TEXT, std::move(text), pos_);
        }
        pos_ = begin + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
        if (type == '#') {
            comment(begin);
        } else {
            tag(begin, type == '{');
        }
    }

    void comment(size_t begin) {
        const size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) {
            error(begin, "unclosed comment: missing '#}'");
        }
        const char sign = end > pos_ ? src_[end - 1] : '\0';
        pos_            = end + 2;
        after_tag_end(sign);
    }

    // Whitespace after a tag end: `-` strips all of it, `+` none, plain ends trim one newline.
    void after_tag_end(char sign) {
        if (sign == '-') {
            while (pos_ < src_.size() && is_space(src_[pos_])) {
                ++pos_;
            }
        } else if (sign != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
        }
    }

    void tag(size_t begin, bool is_var) {
        push(is_var ? tok::VAR_BEGIN : tok::BLOCK_BEGIN, "", begin);
        const char close = is_var ? '}' : '%';
        for (;;) {
            while (pos_ < src_.size() && is_space(src_[pos_])) {
                ++pos_;
            }
            if (pos_ >= src_.size()) {
                error(begin, is_var ? "unclosed '{{': missing '}}'" : "unclosed '{%': missing '%}'");
            }
            const std::string_view rest(src_.data() + pos_, src_.size() - pos_);
            // The end of the tag is recognised before any operator, as jinja2 does.
            const char sign = rest[0];
            if ((sign == '-' || (sign == '+' && !is_var)) && rest.size() >= 3 && rest[1] == close && rest[2] == '}') {
                push(is_var ? tok::VAR_END : tok::BLOCK_END, "", pos_);
                pos_ += 3;
                after_tag_end(sign);
                return;
            }
            if (rest.size() >= 2 && rest[0] == close && rest[1] == '}') {
                push(is_var ? tok::VAR_END : tok::BLOCK_END, "", pos_);
                pos_ += 2;
                if (!is_var) {
                    after_tag_end('\0');
                }
                return;
            }
            expression_token(rest);
        }
    }

    void expression_token(std::string_view rest) {
        const size_t at = pos_;
        const char   c  = rest[0];
        if (is_digit(c)) {
            number(rest);
            return;
        }
        if (is_name_start(c)) {
            size_t n = 1;
            while (n < rest.size() && is_name_char(rest[n])) {
                ++n;
            }
            push(tok::NAME, std::string(rest.substr(0, n)), at);
            pos_ += n;
            return;
        }
        if (c == '\'' || c == '"') {
            string_literal(rest);
            return;
        }
        static constexpr std::string_view two[] = {"//", "**", "==", "!=", ">=", "<="};
        for (std::string_view op : two) {
            if (rest.substr(0, 2) == op) {
                push(tok::OP, std::string(op), at);
                pos_ += 2;
                return;
            }
        }
        if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) != std::string_view::npos) {
            push(tok::OP, std::string(1, c), at);
            pos_ += 1;
            return;
        }
        error(at, "unexpected character '" + std::string(1, c) + "' in tag");
    }

    // Digits with optional '_' separators; returns the count consumed (0 if none).
    static size_t digits(std::string_view s, size_t k) {
        const size_t start = k;
        while (k < s.size() &&
               (is_digit(s[k]) || (s[k] == '_' && k > start && k + 1 < s.size() && is_digit(s[k + 1])))) {
            ++k;
        }
        return k - start;
    }

    void number(std::string_view rest) {
        const size_t at = pos_;
        // 0x / 0o / 0b integers.
        if (rest.size() > 2 && rest[0] == '0' && std::string_view("xXoObB").find(rest[1]) != std::string_view::npos) {
            const int base = (rest[1] == 'x' || rest[1] == 'X') ? 16 : (rest[1] == 'o' || rest[1] == 'O') ? 8 : 2;
            size_t    n    = 2;
            uint64_t  v    = 0;
            while (n < rest.size() && (hex_value(rest[n]) >= 0 || rest[n] == '_')) {
                if (rest[n] != '_') {
                    const int d = hex_value(rest[n]);
                    if (d >= base) {
                        break;
                    }
                    if (v >
                        (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
                        error(at, "integer literal too large");
                    }
                    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
                }
                ++n;
            }
            if (n == 2) {
                error(at, "bad integer literal");
            }
            push(tok::INT, std::string(rest.substr(0, n)), at).ival = static_cast<int64_t>(v);
            pos_ += n;
            return;
        }
        size_t n        = digits(rest, 0);
        bool   is_float = false;
        if (n + 1 < rest.size() && rest[n] == '.' && is_digit(rest[n + 1])) {
            n += 1 + digits(rest, n + 1);
            is_float = true;
        }
        if (n < rest.size() && (rest[n] == 'e' || rest[n] == 'E')) {
            size_t k = n + 1;
            if (k < rest.size() && (rest[k] == '+' || rest[k] == '-')) {
                ++k;
            }
            const size_t d = digits(rest, k);
            if (d > 0) {
                n        = k + d;
                is_float = true;
            }
        }
        std::string spelled;
        for (char ch : rest.substr(0, n)) {
            if (ch != '_') {
                spelled.push_back(ch);
            }
        }
        token & t = push(is_float ? tok::FLOAT : tok::INT, std::string(rest.substr(0, n)), at);
        if (is_float) {
            t.fval = std::strtod(spelled.c_str(), nullptr);
        } else {
            uint64_t v = 0;
            for (char ch : spelled) {
                if (v > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(ch - '0')) / 10) {
                    error(at, "integer literal too large");
                }
                v = v * 10 + static_cast<uint64_t>(ch - '0');
            }
            t.ival = static_cast<int64_t>(v);
        }
        pos_ += n;
    }

    // A quoted literal with Python's escapes (jinja2 decodes it as "unicode-escape").
    void string_literal(std::string_view rest) {
        const size_t at    = pos_;
        const char   quote = rest[0];
        std::string  v;
        size_t       k = 1;
        for (;;) {
            if (k >= rest.size()) {
                error(at, "unterminated string literal");
            }
            const char c = rest[k];
            if (c == quote) {
                ++k;
                break;
            }
            if (c != '\\') {
                v.push_back(c);
                ++k;
                continue;
            }
            if (k + 1 >= rest.size()) {
                error(at, "unterminated string literal");
            }
            const char e = rest[k + 1];
            k += 2;
            switch (e) {
                case '\n':
                    break;
                case '\\':
                case '\'':
                case '"':
                    v.push_back(e);
                    break;
                case 'a':
                    v.push_back('\a');
                    break;
                case 'b':
                    v.push_back('\b');
                    break;
                case 'f':
                    v.push_back('\f');
                    break;
                case 'n':
                    v.push_back('\n');
                    break;
                case 'r':
                    v.push_back('\r');
                    break;
                case 't':
                    v.push_back('\t');
                    break;
                case 'v':
                    v.push_back('\v');
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const size_t width = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    uint32_t     cp    = 0;
                    for (size_t j = 0; j < width; ++j) {
                        const int d = k + j < rest.size() ? hex_value(rest[k + j]) : -1;
                        if (d < 0) {
                            error(at + k, "truncated \\" + std::string(1, e) + " escape in string literal");
                        }
                        cp = cp * 16 + static_cast<uint32_t>(d);
                    }
                    if (cp > 0x10FFFF) {
                        error(at + k, "escape outside the Unicode range in string literal");
                    }
                    k += width;
                    append_utf8(v, cp);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t cp = static_cast<uint32_t>(e - '0');
                        for (int j = 0; j < 2 && k < rest.size() && rest[k] >= '0' && rest[k] <= '7'; ++j, ++k) {
                            cp = cp * 8 + static_cast<uint32_t>(rest[k] - '0');
                        }
                        append_utf8(v, cp);
                    } else {
                        // Python keeps an unknown escape as written.
                        v.push_back('\\');
                        v.push_back(e);
                    }
            }
        }
        push(tok::STRING, std::move(v), at);
        pos_ += k;
    }
};

}  // namespace

std::string normalize_source(std::string_view source) {
    if (source.size() > k_max_source) {
        fail("chat template: source is {} bytes, more than the {} accepted", source.size(), k_max_source);
    }
    std::string out;
    out.reserve(source.size());
    for (size_t k = 0; k < source.size(); ++k) {
        if (source[k] == '\r') {
            out.push_back('\n');
            if (k + 1 < source.size() && source[k + 1] == '\n') {
                ++k;
            }
        } else {
            out.push_back(source[k]);
        }
    }
    if (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

std::vector<token> lex(const std::string & source) {
    return lexer(source).run();
}

std::string where(const std::string & source, size_t at) {
    size_t line = 1;
    size_t col  = 1;
    for (size_t k = 0; k < at && k < source.size(); ++k) {
        if (source[k] == '\n') {
            ++line;
            col = 1;
        } else if ((static_cast<unsigned char>(source[k]) & 0xC0) != 0x80) {
            ++col;
        }
    }
    return "line " + std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace sluice::jinja
