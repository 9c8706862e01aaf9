// libFuzzer target for chat templates: any input, taken as template source, must either
// parse and render (with a fixed conversation, with and without a generation prompt) or
// throw sluice::error; a sanitizer report, another exception, a hang or a trap is a bug.
#include "chat/chat_template.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const nlohmann::json messages = nlohmann::json::parse(R"([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi <tool_response>"},
        {"role": "assistant", "content": "<think>x</think>Hello.", "tool_calls":
            [{"type": "function", "id": "abcdefghi", "function": {"name": "f", "arguments": {"a": [1, 2.5, null]}}}]},
        {"role": "tool", "content": "42", "tool_call_id": "abcdefghi"},
        {"role": "user", "content": "Bye é"}])");
    static const nlohmann::json tools    = nlohmann::json::parse(R"([{"type": "function", "function": {"name": "f",
        "description": "d", "parameters": {"type": "object", "properties": {"a": {"type": "array",
        "items": {"type": "number"}}}, "required": ["a"]}}}])");
    try {
        const sluice::chat_template t(std::string(reinterpret_cast<const char *>(data), size));
        sluice::chat_render_options opt;
        opt.bos_token     = "<s>";
        opt.eos_token     = "</s>";
        opt.now           = 1767323045;
        opt.extra_context = {{"tools", tools}};
        for (bool gen : {true, false}) {
            opt.add_generation_prompt = gen;
            try {
                (void)t.render_json(messages, opt);
            } catch (const sluice::error &) {
            }
        }
    } catch (const sluice::error &) {
        // the one expected outcome for a bad template
    }
    return 0;
}
