#include "tokenizer/unicode.h"

namespace sluice::utf8 {

void append(std::string & out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

scan classify(std::string_view s, size_t i, size_t & len, uint32_t * cp) {
    const auto b0 = uint8_t(s[i]);
    if (b0 < 0x80) {
        len = 1;
        if (cp) *cp = b0;
        return scan::VALID;
    }
    // Well-formed sequences (Unicode table 3-7): the lead fixes the length and the allowed
    // range of the second byte; later bytes are plain 80..BF.
    size_t   need = 0;
    uint8_t  lo = 0x80, hi = 0xBF;
    uint32_t value = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2, value = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3, value = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
        if (b0 == 0xED) hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4, value = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;  // no overlong forms
        if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        len = 1;
        return scan::INVALID;
    }
    size_t k = 1;
    for (; k < need; ++k) {
        if (i + k >= s.size()) {
            len = k;
            return scan::INCOMPLETE;
        }
        const auto b = uint8_t(s[i + k]);
        if (b < lo || b > hi) {
            len = k;  // the maximal subpart ends before the offending byte
            return scan::INVALID;
        }
        lo = 0x80, hi = 0xBF;
        value = (value << 6) | (b & 0x3F);
    }
    len = need;
    if (cp) *cp = value;
    return scan::VALID;
}

std::string repair(std::string_view s, bool final, size_t * held) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    if (held) *held = 0;
    while (i < s.size()) {
        size_t     len = 0;
        const scan r   = classify(s, i, len);
        if (r == scan::VALID) {
            out.append(s.substr(i, len));
        } else if (r == scan::INVALID || final) {
            out += "\xEF\xBF\xBD";  // U+FFFD
        } else {
            if (held) *held = len;
        }
        i += len;
    }
    return out;
}

bool is_valid(std::string_view s) {
    for (size_t i = 0, len = 0; i < s.size(); i += len) {
        if (classify(s, i, len) != scan::VALID) return false;
    }
    return true;
}

}  // namespace sluice::utf8

namespace sluice::gpt2_bytes {
namespace {

struct tables {
    std::array<uint32_t, 256>     cp{};
    std::array<std::string, 256>  text;
    std::array<int16_t, 256 + 68> byte_of;  // code point -> byte, -1 where none

    tables() {
        byte_of.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            cp[b]                = printable ? uint32_t(b) : next++;
            utf8::append(text[b], cp[b]);
            byte_of[cp[b]] = int16_t(b);
        }
    }
};

const tables & get() {
    static const tables t;
    return t;
}

}  // namespace

uint32_t byte_to_cp(uint8_t b) {
    return get().cp[b];
}

const std::string & byte_to_text(uint8_t b) {
    return get().text[b];
}

int cp_to_byte(uint32_t cp) {
    return cp < get().byte_of.size() ? get().byte_of[cp] : -1;
}

}  // namespace sluice::gpt2_bytes
