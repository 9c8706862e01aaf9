#include "chat_session.h"

#include "util/error.h"

#include <algorithm>

namespace sluice::cli {

chat_session::chat_session(engine & e, const session_options & so, const chat_options & co)
    : engine_(e),
      session_(e, so),
      template_(pick_chat_template(co.template_name, e.file().get_string("tokenizer.chat_template"), e.file().path(),
                                   origin_)) {
    e.require_tokenizer();
    if (!co.system.empty()) {
        messages_.push_back({"system", co.system});
    }
}

std::string chat_session::turn(const std::string & user, const generate_options & g, sampler & pick,
                               const std::function<void(const std::string &)> & on_text, generate_stats & stats) {
    const tokenizer & tok = engine_.require_tokenizer();
    messages_.push_back({"user", user});
    chat_render_options ro;
    ro.add_generation_prompt = true;
    ro.bos_token             = tok.bos() >= 0 ? std::string(tok.piece(tok.bos())) : "";
    ro.eos_token             = tok.eos() >= 0 ? std::string(tok.piece(tok.eos())) : "";
    const std::string text   = template_.render(messages_, ro);

    // Control-token text in the rendered prompt is meant as control tokens; BOS is added
    // only when the template did not write it.
    std::vector<int32_t> ids = tok.encode(text, false, true);
    if (tok.add_bos() && tok.bos() >= 0 && (ids.empty() || ids.front() != tok.bos())) {
        ids.insert(ids.begin(), tok.bos());
    }
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

}  // namespace sluice::cli
