// UTF-8 helpers the tokenizers share: splitting into characters, validating, repairing, and
// GPT-2's byte <-> printable-character table used by byte-level BPE vocabularies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::utf8 {

// Bytes a character takes, judged from its first byte alone (1 for a stray continuation byte,
// so a scan over bad input still advances). Callers clamp to the bytes left.
inline size_t char_len(uint8_t lead) {
    static constexpr uint8_t by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_high_nibble[lead >> 4];
}

// Appends the UTF-8 form of code point `cp` (which must be <= 0x10FFFF).
void append(std::string & out, uint32_t cp);

// Result of looking at one character of a byte string.
enum class scan : uint8_t {
    VALID,       // a complete, well-formed character of `len` bytes
    INVALID,     // `len` bytes that can never be part of a valid character (one U+FFFD)
    INCOMPLETE,  // the text ends inside a character that could still be completed
};

// Classifies the character starting at s[i] (i < s.size()); `len` receives how many bytes it
// covers. Invalid input is split into maximal subparts as Unicode recommends (chapter 3,
// "U+FFFD substitution of maximal subparts"), so every byte is covered exactly once.
scan classify(std::string_view s, size_t i, size_t & len, uint32_t * cp = nullptr);

// Copies valid characters and replaces each invalid subpart with U+FFFD. An incomplete
// character at the end is replaced too when `final`, otherwise it is left out and its length
// returned in `*held` (the caller keeps those bytes for later).
std::string repair(std::string_view s, bool final, size_t * held = nullptr);

bool is_valid(std::string_view s);

}  // namespace sluice::utf8

namespace sluice::gpt2_bytes {

// GPT-2's reversible byte -> code point map: printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100.. in byte order, so every byte becomes a visible character.
uint32_t byte_to_cp(uint8_t b);

// The UTF-8 text of byte_to_cp(b).
const std::string & byte_to_text(uint8_t b);

// Inverse of byte_to_cp; -1 for code points outside the table.
int cp_to_byte(uint32_t cp);

}  // namespace sluice::gpt2_bytes
