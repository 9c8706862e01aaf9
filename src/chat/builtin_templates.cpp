// Built-in chat templates for GGUF files that carry none (or one sluice cannot render). They
// follow the turn formats the model families document; each is ordinary template source run
// by the same interpreter.
#include "chat/chat_template.h"
#include "util/error.h"

#include <array>
#include <string>
#include <utility>

namespace sluice {

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 5> k_builtins = {{
    {"chatml", R"({%- for message in messages %}
{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- endif %})"},
    {"llama3", R"({{- bos_token }}
{%- for message in messages %}
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %})"},
    // Gemma has no system role: system text is prepended to the next user turn.
    {"gemma", R"({{- bos_token }}
{%- set ns = namespace(system='') %}
{%- for message in messages %}
{%- if message['role'] == 'system' %}
{%- set ns.system = ns.system + message['content'] + '\n\n' %}
{%- else %}
{%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}
{{- '<start_of_turn>' + role + '\n' + ns.system + message['content'] | trim + '<end_of_turn>\n' }}
{%- set ns.system = '' %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<start_of_turn>model\n' }}
{%- endif %})"},
    {"phi3", R"({%- for message in messages %}
{{- '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|assistant|>\n' }}
{%- else %}
{{- eos_token }}
{%- endif %})"},
    // Mistral's [INST] format: the system text goes into the next user turn; an assistant turn
    // ends with </s>; there is no generation prompt (the model answers after [/INST]).
    {"mistral", R"({{- bos_token }}
{%- set ns = namespace(system='') %}
{%- for message in messages %}
{%- if message['role'] == 'system' %}
{%- set ns.system = message['content'] + '\n\n' %}
{%- elif message['role'] == 'user' %}
{{- '[INST] ' + ns.system + message['content'] + ' [/INST]' }}
{%- set ns.system = '' %}
{%- elif message['role'] == 'assistant' %}
{{- message['content'] + eos_token }}
{%- endif %}
{%- endfor %})"},
}};

}  // namespace

chat_template chat_template::builtin(std::string_view name) {
    for (const auto & [n, source] : k_builtins) {
        if (n == name) {
            return chat_template(std::string(source));
        }
    }
    std::string known;
    for (const auto & b : k_builtins) {
        known += (known.empty() ? "" : ", ") + std::string(b.first);
    }
    fail("unknown built-in chat template '{}' (known: {})", name, known);
}

std::vector<std::string_view> chat_template::builtin_names() {
    std::vector<std::string_view> names;
    for (const auto & b : k_builtins) {
        names.push_back(b.first);
    }
    return names;
}

chat_template pick_chat_template(const std::string & name, std::optional<std::string_view> file_template,
                                 const std::string & file_name, std::string & origin) {
    if (!name.empty()) {
        origin = "built-in '" + name + "'";
        return chat_template::builtin(name);
    }
    if (file_template) {
        origin = "the file's tokenizer.chat_template";
        try {
            return chat_template(std::string(*file_template));
        } catch (const error & err) {
            fail("{}: its chat template cannot be used ({}); pick a built-in one with --chat-template chatml",
                 file_name, err.what());
        }
    }
    origin = "built-in 'chatml' (the file has no chat template)";
    return chat_template::builtin("chatml");
}

}  // namespace sluice
