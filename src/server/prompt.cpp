#include "server/prompt.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <random>

namespace sluice::server {
namespace {

// Control-token text in what a client sent is swapped for a placeholder before rendering:
// marker, decimal index, marker. U+F8FF (private use) appears in no template; in a client's
// text it is itself swapped, so after rendering every marker pair is one of ours.
constexpr std::string_view k_marker    = "\xEF\xA3\xBF";  // U+F8FF
constexpr int              k_max_depth = 128;

// Requests without a seed still differ from one another, as OpenAI's do.
uint64_t fresh_seed() {
    static std::mutex      mu;
    static std::mt19937_64 gen{std::random_device{}()};
    std::lock_guard        lock(mu);
    return gen();
}

}  // namespace

prompt_builder::prompt_builder(const engine & e, const std::string & template_name)
    : tok_(e.require_tokenizer()),
      template_(
          pick_chat_template(template_name, e.file().get_string("tokenizer.chat_template"), e.file().path(), origin_)) {
    for (int32_t id = 0; id < tok_.n_vocab(); ++id) {
        max_token_bytes_         = std::max(max_token_bytes_, tok_.token_bytes(id, true).size());
        const std::string_view p = tok_.piece(id);
        if ((tok_.is_control(id) || id == tok_.unk()) && !p.empty()) {
            specials_.emplace_back(id, std::string(p));
        }
    }
    // As the tokenizer orders them (vocab.h: longest text first, ties by id).
    std::stable_sort(specials_.begin(), specials_.end(),
                     [](const auto & a, const auto & b) { return a.second.size() > b.second.size(); });
    for (const auto & [id, text] : specials_) {
        special_ids_.emplace(text, id);
        starts_special_[static_cast<unsigned char>(text[0])] = true;
        if (special_lengths_.empty() || special_lengths_.back() != text.size()) {
            special_lengths_.push_back(text.size());
        }
    }
}

void prompt_builder::check_bytes(size_t bytes, int64_t n_ctx, const char * param) const {
    // n tokens cover at most n * max_token_bytes bytes, so a longer text needs n_ctx tokens
    // or more: refused without spending the time to tokenize it.
    if (n_ctx > 0 && bytes / max_token_bytes_ >= static_cast<uint64_t>(n_ctx)) {
        throw api_error(400,
                        fmt::format("This model's maximum context length is {} tokens. However, your prompt is {} "
                                    "bytes, more than {} tokens of at most {} bytes each can hold. Please reduce "
                                    "its length.",
                                    n_ctx, bytes, n_ctx, max_token_bytes_),
                        "invalid_request_error", param, "context_length_exceeded");
    }
}

std::string prompt_builder::defang(std::string_view s, std::vector<std::string> & originals) const {
    std::string out;
    size_t      done = 0;  // s[done, i) is copied as is
    for (size_t i = 0; i < s.size();) {
        size_t len = 0;
        if (s.substr(i, k_marker.size()) == k_marker) {
            len = k_marker.size();
        } else if (starts_special_[static_cast<unsigned char>(s[i])]) {
            for (size_t l : special_lengths_) {  // the longest special starting here
                if (l <= s.size() - i && special_ids_.count(s.substr(i, l)) != 0) {
                    len = l;
                    break;
                }
            }
        }
        if (len == 0) {
            ++i;
            continue;
        }
        out.append(s.substr(done, i - done));
        out.append(k_marker);
        out.append(std::to_string(originals.size()));
        out.append(k_marker);
        originals.emplace_back(s.substr(i, len));
        i += len;
        done = i;
    }
    if (done == 0) {
        return std::string(s);
    }
    out.append(s.substr(done));
    return out;
}

void prompt_builder::defang(nlohmann::ordered_json & v, std::vector<std::string> & originals, int depth) const {
    if (depth > k_max_depth) {
        throw bad_param("messages", fmt::format("Invalid 'messages': nested deeper than {} levels.", k_max_depth),
                        "invalid_value");
    }
    if (v.is_string()) {
        v = defang(v.get_ref<const std::string &>(), originals);
    } else if (v.is_array()) {
        for (auto & x : v) {
            defang(x, originals, depth + 1);
        }
    } else if (v.is_object()) {  // keys too: tojson prints them
        nlohmann::ordered_json o = nlohmann::ordered_json::object();
        for (auto it = v.begin(); it != v.end(); ++it) {
            defang(it.value(), originals, depth + 1);
            o[defang(it.key(), originals)] = std::move(it.value());
        }
        v = std::move(o);
    }
}

// Why placeholders: a template may do anything with a message (strip it, split it on
// "</think>", print it with tojson), so the client's bytes cannot be found again in the
// rendering by position or by search. Control-token text is instead made inert before
// rendering: each occurrence in any string of the messages becomes a placeholder (marker,
// index, marker) that no tokenizer cut and no string method changes. Every control token left
// in the rendering was then written by the template (or is its bos/eos variable). The
// rendering is cut at those, exactly as encode(text, parse_special = true) cuts it, and each
// run of text between them gets its placeholders back and is encoded with specials off, so
// a client's "<|im_start|>" becomes the ids of those characters.
std::vector<int32_t> prompt_builder::chat(const nlohmann::ordered_json & messages, int64_t n_ctx) const {
    std::vector<std::string> originals;
    nlohmann::ordered_json   safe = messages;
    defang(safe, originals, 0);
    chat_render_options ro;
    ro.add_generation_prompt = true;
    ro.bos_token             = tok_.bos() >= 0 ? std::string(tok_.piece(tok_.bos())) : "";
    ro.eos_token             = tok_.eos() >= 0 ? std::string(tok_.piece(tok_.eos())) : "";
    std::string text;
    try {
        text = template_.render_json(safe, ro);
    } catch (const error & e) {  // raise_exception() in the template: the conversation is not valid for it
        throw bad_param("messages", fmt::format("The chat template refused the messages: {}", e.what()),
                        "invalid_value");
    }

    // Cut the template's control tokens out, as split_special does: each special, longest
    // first, splits every run of text that holds it.
    struct piece {
        int32_t     token = -1;  // >= 0: a control token
        std::string text;        // else: text with placeholders put back
    };
    std::vector<std::pair<int32_t, std::string_view>> frags{{-1, text}};
    std::vector<std::pair<int32_t, std::string_view>> next;
    for (const auto & [id, sp] : specials_) {
        if (text.find(sp) == std::string::npos) {
            continue;
        }
        next.clear();
        for (const auto & [tok, f] : frags) {
            size_t pos = 0;
            if (tok < 0) {
                for (size_t m; (m = f.find(sp, pos)) != std::string_view::npos; pos = m + sp.size()) {
                    if (m > pos) {
                        next.emplace_back(-1, f.substr(pos, m - pos));
                    }
                    next.emplace_back(id, f.substr(m, sp.size()));
                }
            } else {
                pos = f.size();
                next.emplace_back(tok, f);
            }
            if (pos < f.size()) {
                next.emplace_back(-1, f.substr(pos));
            }
        }
        frags.swap(next);
    }
    std::vector<piece> pieces;
    size_t             bytes = 0;
    for (const auto & [tok, f] : frags) {
        piece p;
        p.token = tok;
        if (tok < 0) {  // put the placeholders back
            for (size_t i = 0; i < f.size();) {
                const size_t open  = f.find(k_marker, i);
                const size_t close = open == std::string_view::npos ? open : f.find(k_marker, open + k_marker.size());
                if (close == std::string_view::npos) {
                    p.text.append(f.substr(i));
                    break;
                }
                const std::string_view num = f.substr(open + k_marker.size(), close - open - k_marker.size());
                size_t                 k   = 0;
                bool                   ok  = !num.empty() && num.size() < 10;
                for (char c : num) {
                    ok = ok && c >= '0' && c <= '9';
                    k  = k * 10 + static_cast<size_t>(c - '0');
                }
                if (!ok || k >= originals.size()) {  // not ours (a template that wrote U+F8FF): as is
                    p.text.append(f.substr(i, close - i));
                    i = close;
                    continue;
                }
                p.text.append(f.substr(i, open - i));
                p.text.append(originals[k]);
                i = close + k_marker.size();
            }
            bytes += p.text.size();
        } else {
            bytes += f.size();
        }
        pieces.push_back(std::move(p));
    }
    check_bytes(bytes, n_ctx, "messages");

    std::vector<int32_t> ids;
    for (const piece & p : pieces) {
        if (p.token >= 0) {
            ids.push_back(p.token);
        } else {
            const std::vector<int32_t> part = tok_.encode(p.text, false, false);
            ids.insert(ids.end(), part.begin(), part.end());
        }
    }
    // BOS is added only when the template did not write it.
    if (tok_.add_bos() && tok_.bos() >= 0 && (ids.empty() || ids.front() != tok_.bos())) {
        ids.insert(ids.begin(), tok_.bos());
    }
    return ids;
}

std::vector<int32_t> prompt_builder::completion(const completion_request & r, int64_t n_ctx) const {
    if (!r.prompt_is_ids) {
        check_bytes(r.prompt_text.size(), n_ctx, "prompt");
        return tok_.encode(r.prompt_text, true, true);
    }
    for (int32_t id : r.prompt_ids) {
        if (id >= tok_.n_vocab()) {
            throw bad_param(
                "prompt",
                fmt::format("Invalid 'prompt': token id {} is outside the vocabulary of {}.", id, tok_.n_vocab()),
                "invalid_value");
        }
    }
    return r.prompt_ids;
}

job make_job(const generation_request & g, std::vector<int32_t> prompt, int64_t n_ctx, const generation_defaults & d) {
    const auto n = static_cast<int64_t>(prompt.size());
    if (n == 0) {
        throw bad_param("prompt", "The prompt is empty.", "invalid_value");
    }
    if (n >= n_ctx) {
        throw api_error(400,
                        fmt::format("This model's maximum context length is {} tokens. However, your prompt is {} "
                                    "tokens, which leaves no room for a completion. Please reduce its length.",
                                    n_ctx, n),
                        "invalid_request_error", "messages", "context_length_exceeded");
    }
    if (g.max_tokens && n + *g.max_tokens > n_ctx) {
        throw api_error(
            400,
            fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                        "({} in the prompt, {} in the completion). Please reduce the prompt or the "
                        "completion length.",
                        n_ctx, n + *g.max_tokens, n, *g.max_tokens),
            "invalid_request_error", "max_tokens", "context_length_exceeded");
    }
    job j;
    j.prompt     = std::move(prompt);
    j.max_tokens = g.max_tokens ? *g.max_tokens : d.max_tokens > 0 ? std::min(d.max_tokens, n_ctx - n) : n_ctx - n;
    j.sampling   = d.sampling;
    if (g.temperature) {
        j.sampling.temperature = *g.temperature;
    }
    if (g.top_p) {
        j.sampling.top_p = *g.top_p;
    }
    if (g.min_p) {
        j.sampling.min_p = *g.min_p;
    }
    if (g.top_k) {
        j.sampling.top_k = *g.top_k;
    }
    j.sampling.seed = g.seed ? *g.seed : d.fixed_seed ? d.sampling.seed : fresh_seed();
    j.stop          = g.stop;
    j.top_logprobs  = g.top_logprobs;
    j.ignore_eos    = d.ignore_eos;
    return j;
}

}  // namespace sluice::server
