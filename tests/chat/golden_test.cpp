// Every real template in tests/data/templates (copied from shared/fixtures/templates) renders
// each conversation of its golden byte for byte as Python's jinja2 3.1 rendered it under
// Hugging Face's settings; the cases the template refuses must throw sluice::error carrying
// the template's raise_exception message. The test finds the files itself, so a new
// NAME.jinja + NAME.golden.json pair is covered without editing this file.
#include "chat/chat_template.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice {
namespace {

const std::string k_dir = std::string(SLUICE_TEST_DATA) + "/templates";

// The instant the goldens were rendered at: 2026-01-02 03:04:05 (UTC).
constexpr std::time_t k_golden_now = 1767323045;

std::string read_file(const std::string & path) {
    std::ifstream      in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> golden_names() {
    std::vector<std::string> names;
    for (const auto & e : std::filesystem::directory_iterator(k_dir)) {
        const std::string f      = e.path().filename().string();
        const std::string suffix = ".golden.json";
        if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0) {
            names.push_back(f.substr(0, f.size() - suffix.size()));
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

class chat_golden : public testing::TestWithParam<std::string> {};

TEST_P(chat_golden, renders_every_case) {
    const nlohmann::ordered_json golden =
        nlohmann::ordered_json::parse(read_file(k_dir + "/" + GetParam() + ".golden.json"));
    const chat_template tmpl(read_file(k_dir + "/" + golden["template"].get<std::string>()));
    ASSERT_FALSE(golden["cases"].empty());
    for (const auto & c : golden["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        chat_render_options opt;
        opt.add_generation_prompt = c["add_generation_prompt"].get<bool>();
        opt.bos_token             = c["bos_token"].get<std::string>();
        opt.eos_token             = c["eos_token"].get<std::string>();
        opt.now                   = k_golden_now;
        if (c.contains("error")) {
            const std::string expected = c["error"].get<std::string>();
            try {
                const std::string out = tmpl.render_json(c["messages"], opt);
                ADD_FAILURE() << "rendered instead of failing with " << expected << ":\n" << out;
            } catch (const sluice::error & e) {
                EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
            }
            continue;
        }
        EXPECT_EQ(tmpl.render_json(c["messages"], opt), c["rendered"].get<std::string>());
        // The plain role/content entry point gives the same text.
        std::vector<chat_message> msgs;
        for (const auto & m : c["messages"]) {
            msgs.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
        }
        EXPECT_EQ(tmpl.render(msgs, opt), c["rendered"].get<std::string>());
    }
}

INSTANTIATE_TEST_SUITE_P(templates, chat_golden, testing::ValuesIn(golden_names()),
                         [](const testing::TestParamInfo<std::string> & info) {
                             std::string n = info.param;
                             for (char & ch : n) {
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) {
                                     ch = '_';
                                 }
                             }
                             return n;
                         });

// A conversation with tools, a tool call and a tool result (chat-tools.golden.json, rendered
// by jinja2 3.1.6 the same way) through every template: the tool paths of the templates.
TEST(chat_golden_tools, every_template_renders_tool_calls_as_jinja2) {
    const nlohmann::ordered_json g =
        nlohmann::ordered_json::parse(read_file(std::string(SLUICE_TEST_DATA) + "/chat-tools.golden.json"));
    chat_render_options opt;
    opt.bos_token     = "<s>";
    opt.eos_token     = "</s>";
    opt.now           = k_golden_now;
    opt.extra_context = nlohmann::json(g["extra"]);
    ASSERT_GE(g["expected"].size(), 13u);
    for (const auto & [file, want] : g["expected"].items()) {
        SCOPED_TRACE(file);
        const chat_template tmpl(read_file(k_dir + "/" + file));
        if (want.contains("error")) {
            try {
                tmpl.render_json(g["messages"], opt);
                ADD_FAILURE() << "rendered instead of failing";
            } catch (const sluice::error & e) {
                EXPECT_NE(std::string(e.what()).find(want["error"].get<std::string>()), std::string::npos) << e.what();
            }
        } else {
            EXPECT_EQ(tmpl.render_json(g["messages"], opt), want["rendered"].get<std::string>());
        }
    }
}

TEST(chat_golden_files, all_present) {
    EXPECT_GE(golden_names().size(), 13u);
}

}  // namespace
}  // namespace sluice
