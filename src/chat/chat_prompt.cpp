#include "chat/chat_prompt.h"

#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>

namespace sluice {
namespace {

// Control-token text in the messages is swapped for a placeholder before rendering:
// marker, decimal index, marker. U+F8FF (private use) appears in no template; in a message
// it is itself swapped, so after rendering every marker pair is one of ours.
constexpr std::string_view k_marker    = "\xEF\xA3\xBF";  // U+F8FF
constexpr int              k_max_depth = 128;

}  // namespace

std::string chat_prompt::rendered::text() const {
    std::string out;
    out.reserve(bytes);
    for (const piece & p : pieces) {
        out += p.text;
    }
    return out;
}

chat_prompt::chat_prompt(const tokenizer & tok) : tok_(tok) {
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

std::string chat_prompt::defang(std::string_view s, std::vector<std::string> & originals) const {
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

void chat_prompt::defang(nlohmann::ordered_json & v, std::vector<std::string> & originals, int depth) const {
    if (depth > k_max_depth) {
        fail("messages nested deeper than {} levels", k_max_depth);
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
chat_prompt::rendered chat_prompt::render(const chat_template & t, const nlohmann::ordered_json & messages,
                                          chat_render_options ro) const {
    std::vector<std::string> originals;
    nlohmann::ordered_json   safe = messages;
    defang(safe, originals, 0);
    ro.bos_token           = tok_.bos() >= 0 ? std::string(tok_.piece(tok_.bos())) : "";
    ro.eos_token           = tok_.eos() >= 0 ? std::string(tok_.piece(tok_.eos())) : "";
    const std::string text = t.render_json(safe, ro);

    // Cut the template's control tokens out, as split_special does: each special, longest
    // first, splits every run of text that holds it.
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
    rendered out;
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
            out.bytes += p.text.size();
        } else {
            out.bytes += f.size();
        }
        out.pieces.push_back(std::move(p));
    }
    return out;
}

std::vector<int32_t> chat_prompt::encode(const rendered & r) const {
    std::vector<int32_t> ids;
    for (const piece & p : r.pieces) {
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

nlohmann::ordered_json messages_json(const std::vector<chat_message> & messages) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const chat_message & m : messages) {
        a.push_back({{"role", m.role}, {"content", m.content}});
    }
    return a;
}

}  // namespace sluice
