// The public API around the interpreter: built-in templates (their turn formats written out
// by hand), the variables a render sees, and the two message entry points.
#include "chat/chat_template.h"
#include "util/error.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

const std::vector<chat_message> k_conv = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};

chat_render_options opts(bool gen) {
    chat_render_options o;
    o.add_generation_prompt = gen;
    o.bos_token             = "<s>";
    o.eos_token             = "</s>";
    return o;
}

TEST(chat_builtin, chatml) {
    EXPECT_EQ(chat_template::builtin("chatml").render(k_conv, opts(true)),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
}

TEST(chat_builtin, llama3) {
    EXPECT_EQ(chat_template::builtin("llama3").render({{"user", " Hi \n"}}, opts(true)),
              "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(chat_builtin, gemma_folds_system_into_first_user_turn) {
    EXPECT_EQ(chat_template::builtin("gemma").render(k_conv, opts(true)),
              "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
              "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
}

TEST(chat_builtin, phi3) {
    EXPECT_EQ(chat_template::builtin("phi3").render({{"user", "Hi"}}, opts(false)), "<|user|>\nHi<|end|>\n</s>");
}

TEST(chat_builtin, mistral) {
    EXPECT_EQ(chat_template::builtin("mistral").render(k_conv, opts(true)),
              "<s>[INST] Be brief.\n\nHi [/INST]Hello.</s>[INST] Bye [/INST]");
}

TEST(chat_builtin, names_and_unknown) {
    const auto names = chat_template::builtin_names();
    EXPECT_GE(names.size(), 5u);
    for (std::string_view n : names) {
        EXPECT_NO_THROW(chat_template::builtin(n).render(k_conv, opts(true))) << n;
    }
    try {
        chat_template::builtin("vicuna");
        ADD_FAILURE() << "no error";
    } catch (const sluice::error & e) {
        EXPECT_NE(std::string(e.what()).find("known: chatml, llama3"), std::string::npos) << e.what();
    }
}

TEST(chat_api, variables_and_extra_context) {
    const chat_template t(
        "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ messages | length }}|"
        "{{ tools | map(attribute='name') | join(',') }}|{{ enable_thinking }}");
    chat_render_options o = opts(false);
    o.extra_context       = {
              {"tools", {{{"name", "a"}}, {{"name", "b"}}}}, {"enable_thinking", false}, {"bos_token", "ignored"}};
    EXPECT_EQ(t.render(k_conv, o), "<s>|</s>|False|4|a,b|False");
}

TEST(chat_api, json_messages_keep_structure_and_order) {
    const chat_template t("{% for m in messages %}{{ m.content is none }} {{ m.tool_calls | tojson }};{% endfor %}");
    const auto          msgs = nlohmann::ordered_json::parse(
                 R"([{"role": "assistant", "content": null, "tool_calls": [{"name": "f", "arguments": {"z": 1, "a": "é"}}]}])");
    EXPECT_EQ(t.render_json(msgs, opts(false)), R"(True [{"name": "f", "arguments": {"z": 1, "a": "é"}}];)");
    // nlohmann::json sorts object keys; the ordered overload is the one that keeps them.
    EXPECT_EQ(t.render_json(nlohmann::json(msgs), opts(false)),
              R"(True [{"arguments": {"a": "é", "z": 1}, "name": "f"}];)");
}

TEST(chat_api, strftime_now_uses_the_pinned_instant_in_utc) {
    chat_render_options o = opts(false);
    o.now                 = 0;
    EXPECT_EQ(chat_template("{{ strftime_now('%Y-%m-%d %H:%M') }}").render({}, o), "1970-01-01 00:00");
    o.now.reset();
    EXPECT_EQ(chat_template("{{ strftime_now('%Y') | length }}").render({}, o), "4");
}

TEST(chat_api, parse_once_render_many) {
    const chat_template t("{{ messages[-1].content }}");
    EXPECT_EQ(t.render({{"user", "a"}}, opts(true)), "a");
    EXPECT_EQ(t.render({{"user", "b"}}, opts(true)), "b");
    const chat_template copy = t;
    EXPECT_EQ(copy.render({{"user", "c"}}, opts(true)), "c");
}

}  // namespace
}  // namespace sluice
