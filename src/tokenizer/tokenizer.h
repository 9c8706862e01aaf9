// Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata.
//
//   "llama" -> SentencePiece-style (spm): score-driven merges over UTF-8 characters, spaces as
//              U+2581, byte fallback through <0xNN> tokens.
//   "gpt2"  -> byte-level BPE (bpe): a regex pre-tokenizer chosen by tokenizer.ggml.pre, GPT-2's
//              byte -> character map, merges applied by rank.
//
// Control tokens (type 3) are matched in the text only when encode() is asked to
// (parse_special); user-defined tokens (type 4) are always matched, as Hugging Face tokenizers
// and llama.cpp do for added tokens. See docs/architecture.md, "Tokenizers".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class gguf_file;
struct vocab;

class tokenizer {
  public:
    // Throws sluice::error naming the file and the key on a missing or malformed vocabulary.
    static std::unique_ptr<tokenizer> from_gguf(const gguf_file & f);
    virtual ~tokenizer();

    // text -> ids. add_special adds BOS/EOS as tokenizer.ggml.add_{bos,eos}_token ask;
    // parse_special matches the text of control tokens. Any bytes are accepted (invalid UTF-8
    // falls back to byte tokens).
    virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;

    // The bytes one token stands for (spm: U+2581 -> ' ', <0x41> -> 'A'; bpe: characters ->
    // bytes). Control and unknown tokens give their text only if `special`, else "". An id
    // outside the vocabulary gives "".
    std::string token_bytes(int32_t id, bool special = false) const;

    // The bytes of a whole sequence: token_bytes() joined, minus the one space the spm dummy
    // prefix put in front of the first piece. Not repaired: may hold invalid UTF-8.
    std::string decode(std::span<const int32_t> ids, bool special = false) const;

    int32_t n_vocab() const;
    int32_t bos() const;  // -1 if none
    int32_t eos() const;  // -1 if none
    int32_t eot() const;  // -1 if none
    int32_t unk() const;  // -1 if none
    int32_t pad() const;  // -1 if none
    bool    add_bos() const;
    bool    add_eos() const;
    // eos, eot, eom and tokens whose text marks an end (<|im_end|>, <|endoftext|>, <|return|>...).
    bool                     is_end_of_generation(int32_t id) const;
    bool                     is_control(int32_t id) const;
    std::string_view         piece(int32_t id) const;                  // raw vocab string ("" outside the vocabulary)
    int32_t                  find_piece(std::string_view text) const;  // id of an exact vocab string, or -1
    virtual std::string_view kind() const = 0;                         // "spm", "bpe"
    // Whether the spm dummy prefix is on (the decoder then drops the first leading space).
    bool strips_leading_space() const;

  protected:
    explicit tokenizer(std::unique_ptr<vocab> v);
    // The bytes of a normal or byte token's vocab string `p`, the part of token_bytes() that
    // differs between kinds (control, unknown and user-defined tokens are handled above).
    virtual std::string    piece_bytes(const std::string & p, bool is_byte_token) const = 0;
    std::unique_ptr<vocab> vocab_;
};

// Streams text for a sequence of ids without splitting UTF-8 characters: push() returns what
// can be shown now, holding back an incomplete character; invalid bytes become U+FFFD.
// The concatenation of all push() results and flush() equals the repaired decode().
// continues: the ids follow text already shown (generated after a prompt), so the first
// piece's leading space is a real space, not the spm dummy prefix, and is kept.
class detokenizer {
  public:
    explicit detokenizer(const tokenizer & tok, bool special = false, bool continues = false);
    std::string push(int32_t id);
    std::string flush();  // emits what is held back (an incomplete character -> U+FFFD)

  private:
    const tokenizer & tok_;
    bool              special_;
    bool              at_start_ = true;
    std::string       held_;
};

}  // namespace sluice
