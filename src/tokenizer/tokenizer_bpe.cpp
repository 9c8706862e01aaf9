// Byte-level BPE from GGUF metadata (tokenizer.ggml.model = "gpt2").
//
// The regex pre-tokenizer cuts the text into words; each byte of a word becomes one symbol
// (GPT-2's byte -> character map makes every byte a vocabulary character), and the adjacent
// pair with the lowest merge rank (tokenizer.ggml.merges, leftmost on ties) is merged until
// no ranked pair is left. A final symbol that is not a vocabulary piece is emitted byte by byte.
//
// Symbols are ids, not strings: a merge "A B" is stored as (id(A), id(B)) -> (rank, id(AB)).
// Strings a merge mentions that are not vocabulary pieces get ids past the vocabulary, so the
// merge table behaves exactly like one keyed on strings.
#include "gguf/gguf.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer_kinds.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

#include <array>
#include <queue>
#include <unordered_map>

namespace sluice {
namespace {

class bpe_tokenizer final : public tokenizer {
  public:
    bpe_tokenizer(std::unique_ptr<vocab> v, const gguf_file & f, const pretokenizer_config & cfg)
        : tokenizer(std::move(v)), pre_(cfg.regexes, f.path()), ignore_merges_(cfg.ignore_merges) {
        for (int b = 0; b < 256; ++b) {
            byte_token_[size_t(b)]  = vocab_->find(gpt2_bytes::byte_to_text(uint8_t(b)));
            byte_symbol_[size_t(b)] = symbol_id(gpt2_bytes::byte_to_text(uint8_t(b)));
        }
        load_merges(f);
    }

    std::string_view kind() const override { return "bpe"; }

    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
        const vocab &        v = *vocab_;
        std::vector<int32_t> out;
        if (add_special && v.add_bos) out.push_back(v.bos);
        std::vector<std::pair<size_t, size_t>> words;
        std::vector<symbol>                    syms;
        std::string                            mapped;
        for (const text_fragment & fr : split_special(v, text, parse_special)) {
            if (fr.token >= 0) {
                out.push_back(fr.token);
                continue;
            }
            const std::string_view part = text.substr(fr.off, fr.len);
            pre_.split(part, words);
            for (const auto & [off, len] : words) encode_word(part.substr(off, len), syms, mapped, out);
        }
        if (add_special && v.add_eos) out.push_back(v.eos);
        return out;
    }

  protected:
    std::string piece_bytes(const std::string & p, bool) const override {
        // Characters -> bytes; a character outside the map (not written by any converter) is
        // passed through as its UTF-8.
        std::string out;
        out.reserve(p.size());
        for (size_t i = 0, len = 0; i < p.size(); i += len) {
            uint32_t cp = 0;
            if (utf8::classify(p, i, len, &cp) == utf8::scan::VALID) {
                const int b = gpt2_bytes::cp_to_byte(cp);
                if (b >= 0) {
                    out += char(b);
                    continue;
                }
            }
            out.append(p, i, len);
        }
        return out;
    }

  private:
    struct symbol {
        int32_t  prev, next;
        int32_t  id;        // symbol id (vocab id, or >= n_vocab for a non-vocab string, -1 unknown)
        uint32_t off, len;  // bytes of the word
    };
    struct candidate {
        int32_t rank, left, right, left_id, right_id;
    };
    struct worse {
        bool operator()(const candidate & a, const candidate & b) const {
            return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
        }
    };
    struct merge {
        int32_t rank, result;
    };

    static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

    int32_t symbol_id(std::string_view s) const {
        const int32_t id = vocab_->find(s);
        if (id >= 0) return id;
        const auto it = extra_ids_.find(std::string(s));
        return it == extra_ids_.end() ? -1 : it->second;
    }

    int32_t symbol_id_or_add(std::string_view s) {
        const int32_t id = symbol_id(s);
        if (id >= 0) return id;
        const auto nid = int32_t(vocab_->size() + extra_ids_.size());
        extra_ids_.emplace(std::string(s), nid);
        return nid;
    }

    void load_merges(const gguf_file & f) {
        constexpr std::string_view key = "tokenizer.ggml.merges";
        const gguf_value *         a   = f.get_array(key);
        if (!a) fail("{}: missing tokenizer key '{}' (byte-level BPE needs merges)", f.path(), key);
        if (a->elem_type != gguf_value_type::STRING) {
            fail("{}: '{}' must be an array of string, found {}", f.path(), key, gguf_value_type_name(a->elem_type));
        }
        merges_.reserve(a->strings.size());
        for (size_t r = 0; r < a->strings.size(); ++r) {
            const std::string_view m = a->strings[r];
            // "A B": the separator is the first space after the first byte (A may be a space).
            const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
            if (sp == std::string_view::npos) continue;  // llama.cpp keeps such entries as unusable
            const std::string_view left = m.substr(0, sp), right = m.substr(sp + 1);
            if (right.empty()) continue;
            const int32_t l = symbol_id_or_add(left), rr = symbol_id_or_add(right);
            const int32_t res = symbol_id_or_add(std::string(left) + std::string(right));
            merges_.emplace(pair_key(l, rr), merge{int32_t(r), res});  // first (lowest) rank wins
        }
        // Re-resolve the byte symbols: a merge may have introduced a byte character that the
        // vocabulary lacks.
        for (int b = 0; b < 256; ++b) byte_symbol_[size_t(b)] = symbol_id(gpt2_bytes::byte_to_text(uint8_t(b)));
    }

    const merge * find_merge(int32_t l, int32_t r) const {
        if (l < 0 || r < 0) return nullptr;
        const auto it = merges_.find(pair_key(l, r));
        return it == merges_.end() ? nullptr : &it->second;
    }

    void encode_word(std::string_view word, std::vector<symbol> & syms, std::string & mapped,
                     std::vector<int32_t> & out) const {
        if (word.empty()) return;
        if (ignore_merges_) {
            mapped.clear();
            for (char c : word) mapped += gpt2_bytes::byte_to_text(uint8_t(c));
            const int32_t id = vocab_->find(mapped);
            if (id >= 0) {
                out.push_back(id);
                return;
            }
        }
        syms.clear();
        for (size_t i = 0; i < word.size(); ++i) {
            const auto idx = int32_t(i);
            syms.push_back(
                {idx - 1, i + 1 == word.size() ? -1 : idx + 1, byte_symbol_[uint8_t(word[i])], uint32_t(i), 1});
        }
        std::priority_queue<candidate, std::vector<candidate>, worse> q;
        auto                                                          try_pair = [&](int32_t l, int32_t r) {
            if (l < 0 || r < 0) return;
            if (const merge * m = find_merge(syms[size_t(l)].id, syms[size_t(r)].id)) {
                q.push({m->rank, l, r, syms[size_t(l)].id, syms[size_t(r)].id});
            }
        };
        for (int32_t i = 1; i < int32_t(syms.size()); ++i) try_pair(i - 1, i);
        while (!q.empty()) {
            const candidate c = q.top();
            q.pop();
            symbol & l = syms[size_t(c.left)];
            symbol & r = syms[size_t(c.right)];
            // Stale if either side changed since the candidate was queued.
            if (l.len == 0 || r.len == 0 || l.next != c.right || l.id != c.left_id || r.id != c.right_id) continue;
            l.id = find_merge(l.id, r.id)->result;
            l.len += r.len;
            r.len  = 0;
            l.next = r.next;
            if (r.next >= 0) syms[size_t(r.next)].prev = c.left;
            try_pair(l.prev, c.left);
            try_pair(c.left, l.next);
        }
        for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) {
            const symbol & s = syms[size_t(i)];
            if (s.id >= 0 && s.id < vocab_->size()) {
                out.push_back(s.id);
                continue;
            }
            for (uint32_t k = 0; k < s.len; ++k) {
                const int32_t b = byte_token_[uint8_t(word[s.off + k])];
                if (b >= 0) out.push_back(b);  // a vocabulary without that byte cannot say it
            }
        }
    }

    pretokenizer                             pre_;
    bool                                     ignore_merges_;
    std::array<int32_t, 256>                 byte_token_{};
    std::array<int32_t, 256>                 byte_symbol_{};
    std::unordered_map<uint64_t, merge>      merges_;
    std::unordered_map<std::string, int32_t> extra_ids_;
};

}  // namespace

std::unique_ptr<tokenizer> make_bpe_tokenizer(const gguf_file & f) {
    auto v = std::make_unique<vocab>();
    load_vocab(*v, f, vocab_kind::BPE);
    const pretokenizer_config cfg = pretokenizer_for(v->pre, f.path());
    if (!f.get_bool("tokenizer.ggml.add_bos_token")) v->add_bos = cfg.add_bos && v->bos >= 0;
    return std::make_unique<bpe_tokenizer>(std::move(v), f, cfg);
}

}  // namespace sluice
