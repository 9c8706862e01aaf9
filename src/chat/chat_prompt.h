// A conversation to prompt token ids, with control tokens only where the template put them
// (issue 16 item 5). The server (`server/prompt.cpp`) and `sluice run --chat` both tokenize
// chat prompts through this, so a user who types "<|im_start|>" or "</s>" gets the ids of
// those characters, never the control tokens.
#pragma once

#include "chat/chat_template.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice {

class tokenizer;

class chat_prompt {
  public:
    // The tokenizer must outlive this.
    explicit chat_prompt(const tokenizer & tok);

    // The rendering cut into the template's control tokens (token >= 0) and runs of text
    // (token < 0, the messages' own text put back), and the bytes of all of it.
    struct piece {
        int32_t     token = -1;
        std::string text;
    };
    struct rendered {
        std::vector<piece> pieces;
        size_t             bytes = 0;

        std::string text() const;  // the prompt as the template wrote it: every piece's text
    };

    // Renders messages (a JSON array of message objects) through t, with bos_token and
    // eos_token from the tokenizer. Throws the template's sluice::error (raise_exception, a
    // render limit) as is.
    rendered render(const chat_template & t, const nlohmann::ordered_json & messages, chat_render_options ro) const;
    // The ids: control tokens as cut, text encoded with specials off; BOS first when the
    // tokenizer adds one and the template did not write it.
    std::vector<int32_t> encode(const rendered & r) const;

    // The most bytes one token stands for (a text of n * this bytes needs n tokens or more).
    size_t max_token_bytes() const { return max_token_bytes_; }

  private:
    // Replaces control-token text (and the marker) in every string of v by placeholders.
    void        defang(nlohmann::ordered_json & v, std::vector<std::string> & originals, int depth) const;
    std::string defang(std::string_view s, std::vector<std::string> & originals) const;

    const tokenizer & tok_;
    size_t            max_token_bytes_ = 1;
    // The tokens encode() cuts out of a text when asked to parse specials (control and
    // unknown), longest text first as the tokenizer cuts them; their distinct lengths, longest
    // first; and which bytes start one.
    std::vector<std::pair<int32_t, std::string>>  specials_;
    std::vector<size_t>                           special_lengths_;
    std::unordered_map<std::string_view, int32_t> special_ids_;
    bool                                          starts_special_[256] = {};
};

// A conversation of plain messages as the JSON array chat_prompt::render takes.
nlohmann::ordered_json messages_json(const std::vector<chat_message> & messages);

}  // namespace sluice
