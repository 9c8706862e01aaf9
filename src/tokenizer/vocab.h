// The vocabulary part of the tokenizer metadata, owned (copied out of the mapping) and indexed:
// pieces, scores, token types, special ids, the end-of-generation set and the list of tokens
// that are matched as whole strings before the model's own algorithm runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice {

class gguf_file;

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class token_type : uint8_t {
    UNDEFINED    = 0,
    NORMAL       = 1,
    UNKNOWN      = 2,
    CONTROL      = 3,
    USER_DEFINED = 4,
    UNUSED       = 5,
    BYTE         = 6,
};

struct vocab {
    std::string path;   // for error messages
    std::string model;  // tokenizer.ggml.model
    std::string pre;    // tokenizer.ggml.pre ("" when absent)

    std::vector<std::string> pieces;
    std::vector<float>       scores;  // 0 when the file has none
    std::vector<token_type>  types;
    std::vector<uint8_t>     eog;  // 1 for end-of-generation ids

    int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
    bool    add_bos          = false;
    bool    add_eos          = false;
    bool    add_space_prefix = false;

    // Control, user-defined and unknown tokens, longest text first: the order in which they
    // are cut out of the input (a longer special wins over one it contains).
    std::vector<int32_t> specials;
    // Specials that swallow the whitespace after them when cut out of the input (Hugging Face's
    // rstrip): empty for most vocabularies; see mark_rstrip in vocab.cpp.
    std::vector<uint8_t> rstrip;

    vocab()                          = default;
    vocab(const vocab &)             = delete;  // `ids` holds views into `pieces`: never move it
    vocab & operator=(const vocab &) = delete;

    int32_t size() const { return int32_t(pieces.size()); }
    bool    valid(int32_t id) const { return id >= 0 && id < size(); }
    int32_t find(std::string_view text) const {
        const auto it = ids.find(text);
        return it == ids.end() ? -1 : it->second;
    }
    token_type type(int32_t id) const { return types[size_t(id)]; }

    std::unordered_map<std::string_view, int32_t> ids;  // views into `pieces`
};

// Which defaults apply (llama.cpp's per-model defaults for special ids and flags).
enum class vocab_kind : uint8_t { SPM, BPE };

// Reads tokens, scores, types, special ids and flags; throws naming the file and key.
void load_vocab(vocab & v, const gguf_file & f, vocab_kind kind);

// A piece of input text: either raw text [off, off+len) or one special token.
struct text_fragment {
    int32_t token = -1;  // >= 0: a special token
    size_t  off   = 0;
    size_t  len   = 0;
};

// Cuts the special tokens out of `text` (control tokens only if parse_special).
std::vector<text_fragment> split_special(const vocab & v, std::string_view text, bool parse_special);

}  // namespace sluice
