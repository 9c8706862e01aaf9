// Cutting special tokens out of the input before the model's algorithm sees it. Each special
// (longest first) splits every raw fragment that contains it, so a longer token wins over a
// shorter one inside it, as in Hugging Face tokenizers and llama.cpp.
#include "tokenizer/vocab.h"

#include <array>
#include <cctype>

namespace sluice {

std::vector<text_fragment> split_special(const vocab & v, std::string_view text, bool parse_special) {
    std::vector<text_fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, 0, text.size()});

    // Which bytes occur at all: most specials can be skipped without a search.
    std::array<bool, 256> present{};
    for (char c : text) present[uint8_t(c)] = true;

    std::vector<text_fragment> next;
    for (int32_t id : v.specials) {
        const token_type ty = v.type(id);
        if (!parse_special && ty != token_type::USER_DEFINED) continue;
        const std::string & piece = v.pieces[size_t(id)];
        if (!present[uint8_t(piece[0])]) continue;

        bool changed = false;
        next.clear();
        for (const text_fragment & fr : frags) {
            if (fr.token >= 0) {
                next.push_back(fr);
                continue;
            }
            const std::string_view window = text.substr(0, fr.off + fr.len);
            size_t                 pos    = fr.off;
            for (size_t m; (m = window.find(piece, pos)) != std::string_view::npos; pos = m + piece.size()) {
                if (m > pos) next.push_back({-1, pos, m - pos});
                next.push_back({id, m, piece.size()});
                changed = true;
            }
            if (pos < fr.off + fr.len) next.push_back({-1, pos, fr.off + fr.len - pos});
        }
        if (changed) frags.swap(next);
    }
    if (!v.rstrip.empty()) {  // a special with rstrip eats the whitespace that follows it
        for (size_t i = 0; i + 1 < frags.size(); ++i) {
            text_fragment & after = frags[i + 1];
            if (frags[i].token < 0 || !v.rstrip[size_t(frags[i].token)] || after.token >= 0) continue;
            while (after.len > 0 && std::isspace(static_cast<unsigned char>(text[after.off]))) {
                ++after.off;
                --after.len;
            }
        }
        std::erase_if(frags, [](const text_fragment & fr) { return fr.token < 0 && fr.len == 0; });
    }
    return frags;
}

}  // namespace sluice
