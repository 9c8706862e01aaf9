// `sluice template [-m M | --template FILE] --messages JSON [--no-generation-prompt] [--var k=v]`:
// prints the prompt a chat template renders, what the model will see, for people debugging
// chat formats. With -m the template is the one `run --chat` and `serve` use (the file's, or
// --chat-template NAME) and bos_token / eos_token come from the model's tokenizer.
#include "chat/chat_prompt.h"
#include "chat/chat_template.h"
#include "cli_common.h"
#include "commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>

namespace sluice::cli {
namespace {

constexpr uint64_t k_max_input_bytes = 16u << 20;  // a template or a messages file

struct template_cli {
    std::string              model, template_file, template_name, messages;
    std::vector<std::string> vars;
    bool                     no_generation_prompt = false;
};

// --messages: JSON text, or @FILE.
nlohmann::ordered_json parse_messages(const std::string & arg) {
    const std::string      text = arg.starts_with("@") ? read_text_file(arg.substr(1), k_max_input_bytes) : arg;
    nlohmann::ordered_json m;
    try {
        m = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::exception & e) {
        fail("--messages: not valid JSON ({})", e.what());
    }
    if (!m.is_array()) {
        fail("--messages: expected a JSON array of messages like [{{\"role\": \"user\", \"content\": \"hi\"}}]");
    }
    return m;
}

// --var k=v: v as JSON when it parses (true, 3, ["a"]), else as a string.
nlohmann::json parse_vars(const std::vector<std::string> & vars) {
    nlohmann::json ctx = nlohmann::json::object();
    for (const std::string & kv : vars) {
        const size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            fail("--var '{}': expected NAME=VALUE", kv);
        }
        const std::string value = kv.substr(eq + 1);
        ctx[kv.substr(0, eq)]   = nlohmann::json::accept(value) ? nlohmann::json::parse(value) : nlohmann::json(value);
    }
    return ctx;
}

void run(const template_cli & o) {
    if (o.model.empty() == o.template_file.empty()) {
        fail("template: give the model (-m) or a template file (--template), one of them");
    }
    chat_render_options ro;
    ro.add_generation_prompt              = !o.no_generation_prompt;
    ro.extra_context                      = parse_vars(o.vars);
    const nlohmann::ordered_json messages = parse_messages(o.messages);
    std::string                  out;
    if (!o.template_file.empty()) {
        const chat_template t(read_text_file(o.template_file, k_max_input_bytes));
        out = t.render_json(messages, ro);
    } else {
        const gguf_file     f = gguf_file::open(o.model);
        std::string         origin;
        const auto          tok = tokenizer::from_gguf(f);
        const chat_prompt   prompt(*tok);
        const chat_template t =
            pick_chat_template(o.template_name, f.get_string("tokenizer.chat_template"), f.path(), origin);
        out = prompt.render(t, messages, ro).text();
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_template_command(CLI::App & app) {
    auto   o   = std::make_shared<template_cli>();
    auto * cmd = app.add_subcommand("template", "print the prompt a chat template renders for some messages");
    auto * m   = cmd->add_option("-m,--model", o->model, "the model whose template (and BOS/EOS) run --chat uses");
    auto * t   = cmd->add_option("--template", o->template_file, "a Jinja template file instead of a model's")
                   ->check(CLI::ExistingFile);
    m->excludes(t);
    cmd->add_option("--chat-template", o->template_name,
                    "with -m, a built-in template instead of the file's: chatml, llama3, gemma, phi3, mistral")
        ->needs(m);
    cmd->add_option("--messages", o->messages,
                    "the conversation: a JSON array of {\"role\", \"content\"} objects, or @FILE")
        ->required();
    cmd->add_flag("--no-generation-prompt", o->no_generation_prompt,
                  "render without the assistant's opening (add_generation_prompt = false)");
    cmd->add_option("--var", o->vars, "a template variable NAME=VALUE (VALUE as JSON if it parses); repeatable");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
