// The regex pre-tokenizer of byte-level BPE vocabularies, selected by tokenizer.ggml.pre.
//
// A pre-tokenizer is a list of regexes applied in turn: each one splits every current
// fragment into its matches and the text between them (both kept), so later regexes refine
// the cuts of earlier ones. Lookarounds and anchors see only the fragment being split.
// Regexes are PCRE2 (UTF + Unicode properties), compiled once per tokenizer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

struct pretokenizer_config {
    std::vector<std::string> regexes;
    bool                     ignore_merges = false;  // a word that is a whole vocab piece is kept whole
    bool                     add_bos       = false;  // default when tokenizer.ggml.add_bos_token is absent
};

// The configuration for a tokenizer.ggml.pre name ("" means "default"); throws listing the
// known names when `pre` is unknown (`path` names the file in the message).
pretokenizer_config pretokenizer_for(std::string_view pre, const std::string & path);

// Every name pretokenizer_for() accepts, for messages and tests.
std::vector<std::string_view> known_pretokenizers();

class pretokenizer {
  public:
    pretokenizer(const std::vector<std::string> & regexes, const std::string & path);
    ~pretokenizer();
    pretokenizer(const pretokenizer &)             = delete;
    pretokenizer & operator=(const pretokenizer &) = delete;

    // Splits `text` into words, as (byte offset, byte length) pairs covering it in order.
    // Invalid UTF-8 never matches a regex; it ends up in the text between matches.
    void split(std::string_view text, std::vector<std::pair<size_t, size_t>> & words) const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice
