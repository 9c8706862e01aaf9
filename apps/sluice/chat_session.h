// A conversation over one session: each turn renders the whole conversation through the
// model's chat template (chat_prompt: the user's text never becomes control tokens), feeds
// only the tokens the session has not seen yet, and generates the assistant's reply. When
// the conversation no longer fits in the context, the oldest turns are dropped (the system
// message stays), said on stderr, and the rest is rendered and fed again.
#pragma once

#include "chat/chat_prompt.h"
#include "chat/chat_template.h"
#include "engine/engine.h"

#include <functional>
#include <string>
#include <vector>

namespace sluice::cli {

struct chat_options {
    std::string template_name;  // empty: the file's tokenizer.chat_template, else chatml
    std::string system;
};

class chat_session {
  public:
    chat_session(engine & e, const session_options & so, const chat_options & co);

    // Adds the user's message, generates and returns the reply (also streamed to on_text).
    std::string turn(const std::string & user, const generate_options & g, sampler & pick,
                     const std::function<void(const std::string &)> & on_text, generate_stats & stats);

    // Where the template came from, for the banner.
    const std::string & template_origin() const { return origin_; }
    // Experts chosen so far (the routing line of a run with routing controls).
    const routing_tally & routing_counts() const { return session_.routing_counts(); }

  private:
    // The prompt ids of the conversation, dropping its oldest turns until they leave room
    // for `reserve` generated tokens; throws when the last message alone does not fit.
    std::vector<int32_t> fitting_prompt(int64_t reserve);

    engine &                  engine_;
    session                   session_;
    std::string               origin_;  // before template_: pick_template() fills it
    chat_template             template_;
    chat_prompt               prompt_;
    std::vector<chat_message> messages_;
};

}  // namespace sluice::cli
