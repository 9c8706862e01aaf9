// chat_template: parse once, render many times (see chat_template.h).
#include "chat/chat_template.h"

#include "chat/interp.h"
#include "chat/lexer.h"
#include "chat/parser.h"

namespace sluice {

namespace jinja {
// A parsed template: the normalized source (for line:col in messages) and its tree.
struct program {
    std::string source;
    body        tree;
};
}  // namespace jinja

namespace {

std::string render_value(const jinja::program & prog, jinja::value messages, const chat_render_options & opt) {
    jinja::value vars = jinja::from_json(opt.extra_context.is_null() ? nlohmann::json::object() : opt.extra_context);
    if (!vars.is_dict()) {
        fail("chat template: extra_context must be a JSON object");
    }
    vars.d->set("messages", std::move(messages));
    vars.d->set("add_generation_prompt", jinja::value::boolean(opt.add_generation_prompt));
    vars.d->set("bos_token", jinja::value::string(opt.bos_token));
    vars.d->set("eos_token", jinja::value::string(opt.eos_token));
    jinja::interpreter in(prog.source);
    return in.render(prog.tree, *vars.d, opt.now.value_or(std::time(nullptr)));
}

template <typename J>
jinja::value messages_value(const J & messages) {
    if (!messages.is_array()) {
        fail("chat template: messages must be a JSON array");
    }
    return jinja::from_json(messages);
}

}  // namespace

chat_template::chat_template(std::string source) {
    auto prog    = std::make_shared<jinja::program>();
    prog->source = jinja::normalize_source(source);
    prog->tree   = jinja::parse(prog->source);
    jinja::check_names(prog->source, prog->tree);
    prog_ = std::move(prog);
}

std::string chat_template::render(const std::vector<chat_message> & messages, const chat_render_options & opt) const {
    std::vector<jinja::value> items;
    items.reserve(messages.size());
    for (const chat_message & m : messages) {
        jinja::value d = jinja::value::new_dict();
        d.d->set("role", jinja::value::string(m.role));
        d.d->set("content", jinja::value::string(m.content));
        items.push_back(std::move(d));
    }
    return render_value(*prog_, jinja::value::list(std::move(items)), opt);
}

std::string chat_template::render_json(const nlohmann::json & messages, const chat_render_options & opt) const {
    return render_value(*prog_, messages_value(messages), opt);
}

std::string chat_template::render_json(const nlohmann::ordered_json & messages, const chat_render_options & opt) const {
    return render_value(*prog_, messages_value(messages), opt);
}

const std::string & chat_template::source() const {
    return prog_->source;
}

}  // namespace sluice
