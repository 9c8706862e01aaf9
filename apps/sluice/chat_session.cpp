#include "chat_session.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace sluice::cli {

chat_session::chat_session(engine & e, const session_options & so, const chat_options & co)
    : engine_(e),
      session_(e, so),
      template_(pick_chat_template(co.template_name, e.file().get_string("tokenizer.chat_template"), e.file().path(),
                                   origin_)),
      prompt_(e.require_tokenizer()) {
    if (!co.system.empty()) {
        messages_.push_back({"system", co.system});
    }
}

std::string chat_session::turn(const std::string & user, const generate_options & g, sampler & pick,
                               const std::function<void(const std::string &)> & on_text, generate_stats & stats) {
    const tokenizer & tok = engine_.require_tokenizer();
    messages_.push_back({"user", user});
    // Room for the reply: what -n asks, but at most half the context (a quarter without -n),
    // so that a long conversation keeps its recent turns.
    const int64_t              n_ctx   = session_.n_ctx();
    const int64_t              reserve = g.n_predict > 0 ? std::min<int64_t>(g.n_predict, n_ctx / 2) : n_ctx / 4;
    const std::vector<int32_t> ids     = fitting_prompt(std::max<int64_t>(reserve, 1));
    // Feed only what the session has not seen; if the rendering changed earlier text (some
    // templates rewrite past turns), start over.
    const std::vector<int32_t> & seen = session_.history();
    if (seen.size() > ids.size() || !std::equal(seen.begin(), seen.end(), ids.begin())) {
        session_.reset();
    }
    const std::vector<int32_t> fresh(ids.begin() + static_cast<ptrdiff_t>(session_.history().size()), ids.end());

    detokenizer out(tok);
    std::string reply;
    stats                  = session_.generate(fresh, g, pick, [&](int32_t id) {
        if (tok.is_end_of_generation(id)) {
            return true;
        }
        const std::string piece = out.push(id);
        reply += piece;
        on_text(piece);
        return true;
    });
    const std::string rest = out.flush();
    reply += rest;
    on_text(rest);
    messages_.push_back({"assistant", reply});
    return reply;
}

std::vector<int32_t> chat_session::fitting_prompt(int64_t reserve) {
    const int64_t n_ctx   = session_.n_ctx();
    size_t        dropped = 0;
    for (;;) {
        chat_render_options ro;
        ro.add_generation_prompt   = true;
        std::vector<int32_t> ids   = prompt_.encode(prompt_.render(template_, messages_json(messages_), ro));
        const size_t         first = !messages_.empty() && messages_[0].role == "system" ? 1 : 0;
        if (static_cast<int64_t>(ids.size()) + reserve <= n_ctx || messages_.size() <= first + 1) {
            if (static_cast<int64_t>(ids.size()) >= n_ctx) {
                fail(
                    "chat: the message does not fit in the context of {} tokens ({} tokens with the template{}); "
                    "raise -c or write less",
                    n_ctx, ids.size(), first == 1 ? " and the system message" : "");
            }
            if (dropped > 0) {
                fmt::print(stderr,
                           "\nsluice: the conversation filled the context of {} tokens: dropped the oldest {} "
                           "message{} (the system message stays)\n",
                           n_ctx, dropped, dropped == 1 ? "" : "s");
            }
            return ids;
        }
        // The oldest turn: a user message and the assistant's reply to it.
        size_t n = 1;
        if (messages_.size() > first + 2 && messages_[first + 1].role == "assistant") {
            n = 2;
        }
        messages_.erase(messages_.begin() + static_cast<ptrdiff_t>(first),
                        messages_.begin() + static_cast<ptrdiff_t>(first + n));
        dropped += n;
    }
}

}  // namespace sluice::cli
