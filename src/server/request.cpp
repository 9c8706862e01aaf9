#include "server/request.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace sluice::server {
namespace {

using ojson = nlohmann::ordered_json;

// Arrays and objects nested deeper than this are refused before parsing: copying,
// comparing, printing or converting a JSON value recurses once per level, so an unbounded
// depth (a 260 KB body can nest 130k levels) would overflow the stack. A request's own
// structure is 4 levels deep (body, messages, a message, its content parts); the chat
// template's converter allows 128 below the messages array.
constexpr int k_max_json_depth = 64;

// The deepest nesting of [ and { outside strings: a byte scan, no recursion, no allocation.
// Run before parsing, so that nothing recursive ever sees a deeper document.
void check_depth(std::string_view body) {
    int  depth     = 0;
    bool in_string = false;
    for (size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // the escaped character cannot end the string
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > k_max_json_depth) {
                throw api_error(400,
                                fmt::format("We could not parse the JSON body of your request: arrays and objects "
                                            "nested deeper than {} levels are not accepted.",
                                            k_max_json_depth),
                                "invalid_request_error", "", "invalid_json");
            }
        } else if (c == ']' || c == '}') {
            --depth;  // unbalanced brackets are the parser's to report
        }
    }
}

ojson parse_object(std::string_view body) {
    if (!is_valid_utf8(body)) {
        throw api_error(400, "The request body is not valid UTF-8.", "invalid_request_error", "", "invalid_utf8");
    }
    check_depth(body);
    ojson j;
    try {
        j = ojson::parse(body);
    } catch (const nlohmann::json::exception & e) {
        // parse_error, and out_of_range for numbers no double holds (1e309, 400 digits).
        throw api_error(400, fmt::format("We could not parse the JSON body of your request. ({})", e.what()),
                        "invalid_request_error", "", "invalid_json");
    }
    if (!j.is_object()) {
        throw api_error(400, "The request body must be a JSON object.", "invalid_request_error", "", "invalid_json");
    }
    return j;
}

// The field, or nullptr when absent or null (OpenAI treats an explicit null as "not given").
const ojson * field(const ojson & j, const char * name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

std::string type_of(const ojson & v) {
    if (v.is_number_integer()) {
        return "an integer";
    }
    if (v.is_number()) {
        return "a number";
    }
    if (v.is_string()) {
        return "a string";
    }
    if (v.is_boolean()) {
        return "a boolean";
    }
    if (v.is_array()) {
        return "an array";
    }
    return "an object";
}

api_error wrong_type(const std::string & name, const ojson & v, const char * want) {
    return bad_param(name, fmt::format("Invalid type for '{}': expected {}, but got {}.", name, want, type_of(v)),
                     "invalid_type");
}

// A field the request must give (not absent, not null).
const ojson & required(const ojson & j, const char * name) {
    const ojson * v = field(j, name);
    if (v == nullptr) {
        throw bad_param(name, fmt::format("Missing required parameter: '{}'.", name), "missing_required_parameter");
    }
    return *v;
}

std::optional<bool> get_bool(const ojson & j, const char * name) {
    const ojson * v = field(j, name);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_boolean()) {
        throw wrong_type(name, *v, "a boolean");
    }
    return v->get<bool>();
}

std::optional<double> get_number(const ojson & j, const char * name, double lo, double hi) {
    const ojson * v = field(j, name);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_number()) {
        throw wrong_type(name, *v, "a number");
    }
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) {
        throw bad_param(name, fmt::format("Invalid value for '{}': {} is not in [{}, {}].", name, x, lo, hi),
                        "invalid_value");
    }
    return x;
}

// Integers; a float with an integral value (2.0) is accepted as JSON does not tell them apart.
std::optional<int64_t> get_int(const ojson & j, const char * name, int64_t lo, int64_t hi) {
    const ojson * v = field(j, name);
    if (v == nullptr) {
        return std::nullopt;
    }
    int64_t x = 0;
    if (v->is_number_unsigned()) {
        const uint64_t u = v->get<uint64_t>();
        x = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                           : static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
        x = v->get<int64_t>();
    } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
               std::fabs(v->get<double>()) < 9.0e18) {
        x = static_cast<int64_t>(v->get<double>());
    } else {
        throw wrong_type(name, *v, "an integer");
    }
    if (x < lo || x > hi) {
        throw bad_param(name, fmt::format("Invalid value for '{}': {} is not in [{}, {}].", name, x, lo, hi),
                        "invalid_value");
    }
    return x;
}

std::vector<std::string> get_stop(const ojson & j) {
    const ojson * v = field(j, "stop");
    if (v == nullptr) {
        return {};
    }
    std::vector<std::string> out;
    if (v->is_string()) {
        out.push_back(v->get<std::string>());
    } else if (v->is_array()) {
        if (v->size() > 4) {
            throw bad_param("stop", "Invalid value for 'stop': at most 4 stop sequences are allowed.", "invalid_value");
        }
        for (const ojson & s : *v) {
            if (!s.is_string()) {
                throw wrong_type("stop", s, "a string or an array of strings");
            }
            out.push_back(s.get<std::string>());
        }
    } else {
        throw wrong_type("stop", *v, "a string or an array of strings");
    }
    std::erase(out, std::string());  // an empty stop string would stop at once; OpenAI ignores it
    return out;
}

// "sluice": {"moe_top_k": 4, "moe_top_p": 0.7, "moe_min_k", "moe_max_k", "moe_skip",
// "expert_mask": "3:17,*:2", "expert_force": "3:5=0.5", "expert_steer": [{"layer", "expert",
// "offset"}], "return_routed_experts": true}. Types and plain ranges here; the model's
// geometry (layer and expert counts) is checked when the job is made. Files are the
// operator's business: a request cannot name one (no @FILE).
void parse_sluice_extension(const ojson & j, generation_request & g) {
    const ojson * sx = field(j, "sluice");
    if (sx == nullptr) {
        return;
    }
    if (!sx->is_object()) {
        throw wrong_type("sluice", *sx, "an object");
    }
    g.return_routed_experts = get_bool(*sx, "return_routed_experts").value_or(false);
    routing_request r;
    bool            any = false;
    if (auto k = get_int(*sx, "moe_top_k", 1, 1 << 16)) {
        r.top_k = static_cast<int>(*k);
        any     = true;
    }
    if (auto p = get_number(*sx, "moe_top_p", 0.0, 1.0)) {
        if (*p <= 0.0) {
            throw bad_param("moe_top_p", "Invalid value for 'moe_top_p': it must be in (0, 1].", "invalid_value");
        }
        r.top_p = static_cast<float>(*p);
        any     = true;
    }
    if (auto k = get_int(*sx, "moe_min_k", 1, 1 << 16)) {
        r.min_k = static_cast<int>(*k);
        any     = true;
    }
    if (auto k = get_int(*sx, "moe_max_k", 1, 1 << 16)) {
        r.max_k = static_cast<int>(*k);
        any     = true;
    }
    if (auto t = get_number(*sx, "moe_skip", 0.0, 1e6)) {
        r.skip = static_cast<float>(*t);
        any    = true;
    }
    for (const char * key : {"expert_mask", "expert_force"}) {
        if (const ojson * v = field(*sx, key)) {
            if (!v->is_string()) {
                throw wrong_type(key, *v, "a string like \"3:17,*:2\"");
            }
            const std::string spec = v->get<std::string>();
            if (spec.empty() || spec.size() > 65536 || spec.find('@') != std::string::npos) {
                throw bad_param(key,
                                fmt::format("Invalid value for '{}': expected layer:expert,... (at most 64 KiB).", key),
                                "invalid_value");
            }
            (std::string_view(key) == "expert_mask" ? r.mask : r.force) = spec;
            any                                                         = true;
        }
    }
    if (const ojson * v = field(*sx, "expert_steer")) {
        if (!v->is_array() || v->size() > 65536) {
            throw wrong_type("expert_steer", *v, "an array of at most 65536 {layer, expert, offset} objects");
        }
        for (const ojson & o : *v) {
            if (!o.is_object()) {
                throw wrong_type("expert_steer", o, "an object {layer, expert, offset}");
            }
            const auto l   = get_int(o, "layer", 0, 1 << 16);
            const auto e   = get_int(o, "expert", 0, 1 << 16);
            const auto off = get_number(o, "offset", -1e4, 1e4);
            if (!l || !e || !off) {
                throw bad_param("expert_steer", "Each 'expert_steer' entry needs 'layer', 'expert' and 'offset'.",
                                "missing_required_parameter");
            }
            r.steer_offsets.push_back({static_cast<int>(*l), static_cast<int>(*e), static_cast<float>(*off)});
        }
        any = true;
    }
    if (any) {
        g.routing = std::move(r);
    }
}

generation_request parse_generation(const ojson & j) {
    generation_request g;
    const ojson *      model = field(j, "model");
    if (model == nullptr) {
        throw bad_param("model", "You must provide a model parameter.", "missing_required_parameter");
    }
    if (!model->is_string()) {
        throw wrong_type("model", *model, "a string");
    }
    g.model  = model->get<std::string>();
    g.stream = get_bool(j, "stream").value_or(false);
    if (const ojson * so = field(j, "stream_options")) {
        if (!so->is_object()) {
            throw wrong_type("stream_options", *so, "an object");
        }
        if (!g.stream) {
            throw bad_param("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is true.",
                            "invalid_value");
        }
        g.include_usage = get_bool(*so, "include_usage").value_or(false);
    }
    constexpr int64_t max_len = int64_t{1} << 31;
    g.max_tokens              = get_int(j, "max_completion_tokens", 1, max_len);
    if (auto m = get_int(j, "max_tokens", 1, max_len)) {
        g.max_tokens = m;
    }
    if (auto n = get_int(j, "n", 1, 128); n && *n != 1) {
        throw bad_param("n", "Invalid value for 'n': sluice generates one choice per request (n = 1).",
                        "invalid_value");
    }
    if (auto t = get_number(j, "temperature", 0.0, 2.0)) {
        g.temperature = static_cast<float>(*t);
    }
    if (auto p = get_number(j, "top_p", 0.0, 1.0)) {
        g.top_p = static_cast<float>(*p);
    }
    if (auto p = get_number(j, "min_p", 0.0, 1.0)) {
        g.min_p = static_cast<float>(*p);
    }
    if (auto k = get_int(j, "top_k", 0, std::numeric_limits<int32_t>::max())) {
        g.top_k = static_cast<int32_t>(*k);
    }
    if (auto s = get_int(j, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
        g.seed = static_cast<uint64_t>(*s);
    }
    g.ignore_eos = get_bool(j, "ignore_eos");
    // Accepted for compatibility, not applied: type-checked so that a wrong value is still a 400.
    get_number(j, "presence_penalty", -2.0, 2.0);
    get_number(j, "frequency_penalty", -2.0, 2.0);
    g.stop = get_stop(j);
    parse_sluice_extension(j, g);
    return g;
}

// A message's content as text: a string, null, or an array of {"type": "text", "text": ...}.
std::string content_text(const ojson & content, size_t i) {
    const std::string name = fmt::format("messages[{}].content", i);
    if (content.is_null()) {
        return "";
    }
    if (content.is_string()) {
        return content.get<std::string>();
    }
    if (!content.is_array()) {
        throw wrong_type(name, content, "a string or an array of content parts");
    }
    std::string text;
    for (const ojson & part : content) {
        if (!part.is_object()) {
            throw wrong_type(name, part, "an object (a content part)");
        }
        const ojson * type = field(part, "type");
        if (type == nullptr || !type->is_string() || type->get<std::string>() != "text") {
            throw bad_param(name,
                            fmt::format("Invalid content part in '{}': only parts of type 'text' are supported.", name),
                            "invalid_value");
        }
        const ojson * t = field(part, "text");
        if (t == nullptr || !t->is_string()) {
            throw bad_param(name, fmt::format("Invalid content part in '{}': 'text' must be a string.", name),
                            "invalid_type");
        }
        text += t->get<std::string>();
    }
    return text;
}

// Moves the messages out of the parsed body (no copy of what the client sent).
ojson parse_messages(ojson & j) {
    ojson * msgs = j.contains("messages") && !j["messages"].is_null() ? &j["messages"] : nullptr;
    if (msgs == nullptr) {
        throw bad_param("messages", "Missing required parameter: 'messages'.", "missing_required_parameter");
    }
    if (!msgs->is_array()) {
        throw wrong_type("messages", *msgs, "an array");
    }
    if (msgs->empty()) {
        throw bad_param("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                        "empty_array");
    }
    ojson out = ojson::array();
    for (size_t i = 0; i < msgs->size(); ++i) {
        ojson & m = (*msgs)[i];
        if (!m.is_object()) {
            throw wrong_type(fmt::format("messages[{}]", i), m, "an object");
        }
        const ojson * role = field(m, "role");
        if (role == nullptr || !role->is_string()) {
            throw bad_param(fmt::format("messages[{}].role", i),
                            fmt::format("Invalid 'messages[{}].role': expected a string.", i), "invalid_type");
        }
        std::string r = role->get<std::string>();
        if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool" && r != "function") {
            throw bad_param(fmt::format("messages[{}].role", i),
                            fmt::format("Invalid value for 'messages[{}].role': '{}' is not one of system, developer, "
                                        "user, assistant, tool.",
                                        i, r),
                            "invalid_value");
        }
        std::string content = content_text(m.contains("content") ? m["content"] : ojson(nullptr), i);
        ojson       msg     = std::move(m);  // the other fields as given, for the template
        msg["role"]         = r == "developer" ? "system" : r;
        msg["content"]      = std::move(content);
        out.push_back(std::move(msg));
    }
    return out;
}

// A prompt of token ids: every item an integer in int32 range (the vocabulary is checked later).
std::vector<int32_t> prompt_ids(const ojson & arr, const char * param = "prompt") {
    std::vector<int32_t> ids;
    for (const ojson & v : arr) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
            throw bad_param(param, fmt::format("Invalid '{}': an array of token ids must hold integers >= 0.", param),
                            "invalid_type");
        }
        ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    return ids;
}

}  // namespace

chat_request parse_chat_request(std::string_view body) {
    ojson        j = parse_object(body);
    chat_request r;
    r.messages          = parse_messages(j);
    r.gen               = parse_generation(j);
    const bool logprobs = get_bool(j, "logprobs").value_or(false);
    const auto top      = get_int(j, "top_logprobs", 0, 20);
    if (top && !logprobs) {
        throw bad_param("top_logprobs", "Invalid value for 'top_logprobs': 'logprobs' must be true to use it.",
                        "invalid_value");
    }
    r.gen.top_logprobs = logprobs ? static_cast<int>(top.value_or(0)) : -1;
    return r;
}

completion_request parse_completion_request(std::string_view body) {
    const ojson        j = parse_object(body);
    completion_request r;
    const ojson *      p = &required(j, "prompt");
    if (p->is_string()) {
        r.prompt_text = p->get<std::string>();
    } else if (p->is_array() && !p->empty() && (*p)[0].is_string()) {
        if (p->size() != 1) {
            throw bad_param("prompt", "Invalid 'prompt': sluice takes one prompt per request.", "invalid_value");
        }
        r.prompt_text = (*p)[0].get<std::string>();
    } else if (p->is_array() && !p->empty() && (*p)[0].is_array()) {
        if (p->size() != 1) {
            throw bad_param("prompt", "Invalid 'prompt': sluice takes one prompt per request.", "invalid_value");
        }
        r.prompt_is_ids = true;
        r.prompt_ids    = prompt_ids((*p)[0]);
    } else if (p->is_array()) {
        r.prompt_is_ids = true;
        r.prompt_ids    = prompt_ids(*p);
    } else {
        throw wrong_type("prompt", *p, "a string, an array of strings or an array of token ids");
    }
    r.gen  = parse_generation(j);
    r.echo = get_bool(j, "echo").value_or(false);
    if (auto lp = get_int(j, "logprobs", 0, 5)) {
        r.gen.top_logprobs = static_cast<int>(*lp);
    }
    // OpenAI then scores the prompt tokens too; sluice evaluates a prompt without keeping
    // its logits, so it says so rather than answer with the generated tokens only.
    if (r.echo && r.gen.top_logprobs >= 0) {
        throw bad_param("echo",
                        "Invalid value for 'echo': sluice does not return logprobs of prompt tokens, so 'echo' "
                        "cannot be combined with 'logprobs'. Send one of them.",
                        "unsupported_value");
    }
    return r;
}

tokenize_request parse_tokenize_request(std::string_view body) {
    const ojson      j = parse_object(body);
    tokenize_request r;
    const ojson &    c = required(j, "content");
    if (!c.is_string()) {
        throw wrong_type("content", c, "a string");
    }
    r.content       = c.get<std::string>();
    r.add_special   = get_bool(j, "add_special").value_or(false);
    r.parse_special = get_bool(j, "parse_special").value_or(true);
    r.with_pieces   = get_bool(j, "with_pieces").value_or(false);
    return r;
}

std::vector<int32_t> parse_detokenize_request(std::string_view body) {
    const ojson   j = parse_object(body);
    const ojson & t = required(j, "tokens");
    if (!t.is_array()) {
        throw wrong_type("tokens", t, "an array of token ids");
    }
    return prompt_ids(t, "tokens");
}

ojson parse_apply_template_request(std::string_view body) {
    ojson j = parse_object(body);
    return parse_messages(j);
}

bool is_valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c  = static_cast<unsigned char>(s[i]);
        int        n  = 0;  // continuation bytes
        uint32_t   cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (int k = 1; k <= n; ++k) {
            if (i + k >= s.size()) {
                return false;
            }
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (b & 0x3F);
        }
        const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

}  // namespace sluice::server
