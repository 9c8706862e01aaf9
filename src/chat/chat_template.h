// Chat templates: renders the Jinja template a GGUF file carries in
// `tokenizer.chat_template` into the prompt text, as Hugging Face transformers does with
// jinja2 (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, tojson keeping key order and
// non-ASCII text, raise_exception, strftime_now). The interpreter is a subset of Jinja large
// enough for the templates real models ship (see docs/architecture.md); anything outside the
// subset is refused with a sluice::error naming the construct and its line:column.
#pragma once

#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct chat_message {
    std::string role;
    std::string content;
};

struct chat_render_options {
    bool                       add_generation_prompt = true;
    std::string                bos_token, eos_token;
    std::optional<std::time_t> now;  // the instant strftime_now formats (in UTC); unset = the current time
    // More template variables (tools, enable_thinking, ...). messages, add_generation_prompt,
    // bos_token and eos_token always come from the arguments above.
    nlohmann::json extra_context = nlohmann::json::object();
};

namespace jinja {
struct program;
}

class chat_template {
  public:
    // Parses once; throws sluice::error naming the construct and line:col on a syntax error /
    // unsupported construct / unknown filter or test.
    explicit chat_template(std::string source);

    std::string render(const std::vector<chat_message> & messages, const chat_render_options & opt) const;
    // Messages as a JSON array of objects (content may be null or structured; tool calls etc.).
    std::string render_json(const nlohmann::json & messages, const chat_render_options & opt) const;
    // The same, keeping the key order of the objects (which tojson prints) as given.
    std::string render_json(const nlohmann::ordered_json & messages, const chat_render_options & opt) const;

    // Built-in templates for files without one: "chatml", "llama3", "gemma", "phi3", "mistral".
    static chat_template                 builtin(std::string_view name);  // throws listing the known names
    static std::vector<std::string_view> builtin_names();

    const std::string & source() const;

  private:
    std::shared_ptr<const jinja::program> prog_;
};

// The template a model is chatted with: the built-in `name` when given, else the file's own
// (`file_template`, from tokenizer.chat_template), else chatml. `origin` says which, for the
// user. A file template that does not parse is an error naming `file_name`.
chat_template pick_chat_template(const std::string & name, std::optional<std::string_view> file_template,
                                 const std::string & file_name, std::string & origin);

}  // namespace sluice
