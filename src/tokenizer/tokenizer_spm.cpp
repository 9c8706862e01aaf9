// SentencePiece-style tokenization from GGUF metadata (tokenizer.ggml.model = "llama").
//
// The text (with a leading space when add_space_prefix is on) has its spaces replaced by
// U+2581 and is split into UTF-8 characters. Then, repeatedly, the adjacent pair whose
// concatenation is a vocabulary piece with the highest score is merged (leftmost on ties).
// Pieces that are not in the vocabulary at the end become one <0xNN> byte token per byte.
// This is the algorithm of llama.cpp's SPM tokenizer and of sentencepiece's BPE models.
#include "gguf/gguf.h"
#include "tokenizer/tokenizer_kinds.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

#include <array>
#include <cstdio>
#include <queue>

namespace sluice {
namespace {

constexpr std::string_view k_space_mark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

class spm_tokenizer final : public tokenizer {
  public:
    explicit spm_tokenizer(std::unique_ptr<vocab> v) : tokenizer(std::move(v)) {
        // Byte fallback: <0xNN>, else a piece that is the byte itself, else unknown.
        for (int b = 0; b < 256; ++b) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "<0x%02X>", b);
            int32_t id = vocab_->find(hex);
            if (id < 0) id = vocab_->find(std::string(1, char(b)));
            byte_token_[size_t(b)] = id >= 0 ? id : vocab_->unk;
        }
        // An ASCII byte that occurs in no piece longer than itself can never be merged with a
        // neighbour, so the text can be cut there and each side merged on its own with the
        // same result (merges interact only through neighbours). Newlines usually qualify,
        // which keeps the merge queue per line instead of per document.
        barrier_.fill(true);
        for (int b = 0x80; b < 256; ++b) barrier_[size_t(b)] = false;
        for (const std::string & p : vocab_->pieces) {
            if (p.size() > 1) {
                for (char c : p) barrier_[uint8_t(c)] = false;
            }
        }
    }

    std::string_view kind() const override { return "spm"; }

    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
        const vocab &        v = *vocab_;
        std::vector<int32_t> out;
        if (add_special && v.add_bos) out.push_back(v.bos);
        // The dummy prefix goes in front of the text and of every run of text that follows a
        // special token (they start a new "sentence" for SentencePiece).
        bool        after_special = true;
        std::string escaped;
        for (const text_fragment & fr : split_special(v, text, parse_special)) {
            if (fr.token >= 0) {
                out.push_back(fr.token);
                after_special = true;
                continue;
            }
            escaped.clear();
            if (v.add_space_prefix && after_special) escaped += k_space_mark;
            for (char c : text.substr(fr.off, fr.len)) {
                if (c == ' ') {
                    escaped += k_space_mark;
                } else {
                    escaped += c;
                }
            }
            encode_escaped(escaped, out);
            after_special = false;
        }
        if (add_special && v.add_eos) out.push_back(v.eos);
        return out;
    }

  protected:
    std::string piece_bytes(const std::string & p, bool is_byte_token) const override {
        if (is_byte_token) {
            if (p.size() == 6 && p.starts_with("<0x") && p[5] == '>' && hex(p[3]) >= 0 && hex(p[4]) >= 0) {
                return std::string(1, char(hex(p[3]) * 16 + hex(p[4])));
            }
            return p;
        }
        std::string out;
        out.reserve(p.size());
        for (size_t i = 0; i < p.size();) {
            if (std::string_view(p).substr(i, 3) == k_space_mark) {
                out += ' ';
                i += 3;
            } else {
                out += p[i++];
            }
        }
        return out;
    }

  private:
    struct symbol {
        int32_t  prev, next;  // neighbours in the linked list, -1 at the ends
        uint32_t off, len;    // bytes of the escaped text; len 0 once merged into the left
    };
    struct candidate {
        float    score;
        int32_t  left, right;
        uint32_t len;  // bytes of the merged piece, to recognise stale candidates
    };
    struct worse {
        bool operator()(const candidate & a, const candidate & b) const {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        }
    };
    using queue = std::priority_queue<candidate, std::vector<candidate>, worse>;

    void try_pair(std::string_view s, const std::vector<symbol> & syms, int32_t l, int32_t r, queue & q) const {
        if (l < 0 || r < 0) return;
        const uint32_t len = syms[size_t(l)].len + syms[size_t(r)].len;
        const int32_t  id  = vocab_->find(s.substr(syms[size_t(l)].off, len));
        if (id >= 0) q.push({vocab_->scores[size_t(id)], l, r, len});
    }

    void encode_escaped(std::string_view s, std::vector<int32_t> & out) const {
        size_t start = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            if (barrier_[uint8_t(s[i])]) {
                merge_run(s.substr(start, i - start), out);
                merge_run(s.substr(i, 1), out);
                start = i + 1;
            }
        }
        merge_run(s.substr(start), out);
    }

    void merge_run(std::string_view s, std::vector<int32_t> & out) const {
        if (s.empty()) return;
        std::vector<symbol> syms;
        syms.reserve(s.size());
        // Characters are cut where UTF-8 says (invalid bytes form their own symbols, which
        // end as byte tokens), so a stray lead byte cannot swallow the U+2581 after it.
        for (size_t off = 0; off < s.size();) {
            size_t len = 0;
            utf8::classify(s, off, len);
            const auto idx = int32_t(syms.size());
            syms.push_back({idx - 1, off + len == s.size() ? -1 : idx + 1, uint32_t(off), uint32_t(len)});
            off += len;
        }
        queue q;
        for (int32_t i = 1; i < int32_t(syms.size()); ++i) try_pair(s, syms, i - 1, i, q);
        while (!q.empty()) {
            const candidate c = q.top();
            q.pop();
            symbol & l = syms[size_t(c.left)];
            symbol & r = syms[size_t(c.right)];
            if (l.len == 0 || r.len == 0 || l.len + r.len != c.len) continue;  // stale
            l.len += r.len;
            r.len  = 0;
            l.next = r.next;
            if (r.next >= 0) syms[size_t(r.next)].prev = c.left;
            try_pair(s, syms, l.prev, c.left, q);
            try_pair(s, syms, c.left, l.next, q);
        }
        for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) {
            const symbol & sym = syms[size_t(i)];
            const int32_t  id  = vocab_->find(s.substr(sym.off, sym.len));
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            for (uint32_t k = 0; k < sym.len; ++k) {
                const int32_t b = byte_token_[uint8_t(s[sym.off + k])];
                if (b >= 0) out.push_back(b);
            }
        }
    }

    std::array<int32_t, 256> byte_token_{};
    std::array<bool, 256>    barrier_{};  // bytes no merge can cross
};

}  // namespace

std::unique_ptr<tokenizer> make_spm_tokenizer(const gguf_file & f) {
    auto v = std::make_unique<vocab>();
    load_vocab(*v, f, vocab_kind::SPM);
    return std::make_unique<spm_tokenizer>(std::move(v));
}

}  // namespace sluice
