// Loading tokenizer.ggml.* into a vocab. Only the keys llama.cpp writes are read; values that
// are present but unusable (wrong type, wrong length, duplicate pieces) are errors naming the
// file and the key, while out-of-range special ids are ignored as llama.cpp does.
#include "tokenizer/vocab.h"

#include "gguf/gguf.h"
#include "util/error.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace sluice {
namespace {

constexpr std::string_view k_tokens = "tokenizer.ggml.tokens";
constexpr std::string_view k_scores = "tokenizer.ggml.scores";
constexpr std::string_view k_types  = "tokenizer.ggml.token_type";

// Texts that end a turn in the chat formats sluice meets; llama.cpp keys end-of-generation on
// the same texts because converters rarely write eot/eom ids.
constexpr std::array<std::string_view, 13> k_eog_texts = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
    "<｜end▁of▁sentence｜>",
    "<eos>",
    "</s>",
};

// The subset of k_eog_texts that names an end of turn when no eot id is given.
constexpr std::array<std::string_view, 8> k_eot_texts = {
    "<|eot_id|>",    "<|im_end|>",      "<|end|>", "<end_of_turn>",
    "<|endoftext|>", "<|end_of_text|>", "<EOT>",   "<｜end▁of▁sentence｜>",
};

const gguf_value & require_array(const gguf_file & f, std::string_view key, gguf_value_type elem) {
    const gguf_value * a = f.get_array(key);
    if (!a) fail("{}: missing tokenizer key '{}'", f.path(), key);
    if (a->type != gguf_value_type::ARRAY || a->elem_type != elem) {
        fail("{}: '{}' must be an array of {}, found {} of {}", f.path(), key, gguf_value_type_name(elem),
             gguf_value_type_name(a->type), gguf_value_type_name(a->elem_type));
    }
    return *a;
}

// A special id from the metadata, or `fallback` when absent or outside the vocabulary.
int32_t special_id(const gguf_file & f, std::string_view key, int32_t fallback, int32_t n) {
    const gguf_value * v = f.find(key);
    if (!v || !v->is_integer()) return fallback < n ? fallback : -1;
    return v->i >= 0 && v->i < n ? int32_t(v->i) : (fallback < n ? fallback : -1);
}

// Phi-3's tokenizer_config gives its added tokens rstrip=True, and llama.cpp applies the same by
// model family (its vocab loader, for names containing "phi3" / "phi-3"): every special but
// <unk>, <s> and <|endoftext|> eats the whitespace after it ("</s> hi" is </s> then "hi").
// Checked against llama-tokenize on the fixture's ggml-vocab-phi-3.gguf.
void mark_rstrip(vocab & v, const gguf_file & f) {
    std::string family = std::string(f.get_string("general.name").value_or("")) + " " +
                         std::string(f.get_string("general.architecture").value_or(""));
    std::transform(family.begin(), family.end(), family.begin(), [](unsigned char c) { return std::tolower(c); });
    if (family.find("phi3") == std::string::npos && family.find("phi-3") == std::string::npos) {
        return;
    }
    v.rstrip.assign(v.pieces.size(), 0);
    for (int32_t id : v.specials) {
        v.rstrip[size_t(id)] = 1;
    }
    for (const char * keep : {"<unk>", "<s>", "<|endoftext|>"}) {
        if (const int32_t id = v.find(keep); id >= 0) {
            v.rstrip[size_t(id)] = 0;
        }
    }
}

void load_specials(vocab & v, const gguf_file & f, vocab_kind kind) {
    const int32_t n   = v.size();
    const bool    spm = kind == vocab_kind::SPM;
    v.bos             = special_id(f, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n);
    v.eos             = special_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n);
    v.unk             = special_id(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
    v.eot             = special_id(f, "tokenizer.ggml.eot_token_id", -1, n);
    v.eom             = special_id(f, "tokenizer.ggml.eom_token_id", -1, n);
    v.pad             = special_id(f, "tokenizer.ggml.padding_token_id", -1, n);

    v.add_bos          = f.get_bool("tokenizer.ggml.add_bos_token").value_or(spm);
    v.add_eos          = f.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
    if (v.add_bos && v.bos < 0) fail("{}: tokenizer.ggml.add_bos_token is true but there is no BOS id", f.path());
    if (v.add_eos && v.eos < 0) fail("{}: tokenizer.ggml.add_eos_token is true but there is no EOS id", f.path());

    // End of generation: the declared ids plus the texts above. A vocabulary with both
    // <|return|> and <|call|> (gpt-oss's harmony format) uses <|end|> between messages, so
    // there it does not end generation.
    v.eog.assign(size_t(n), 0);
    for (std::string_view text : k_eog_texts) {
        const int32_t id = v.find(text);
        if (id >= 0) v.eog[size_t(id)] = 1;
    }
    if (v.eot < 0) {
        for (std::string_view text : k_eot_texts) {
            if ((v.eot = v.find(text)) >= 0) break;
        }
    }
    const int32_t end = v.find("<|end|>");
    if (end >= 0 && v.find("<|return|>") >= 0 && v.find("<|call|>") >= 0) {
        v.eog[size_t(end)] = 0;
        if (v.eot == end) v.eot = -1;
    }
    for (int32_t id : {v.eos, v.eot, v.eom}) {
        if (id >= 0) v.eog[size_t(id)] = 1;
    }
}

}  // namespace

void load_vocab(vocab & v, const gguf_file & f, vocab_kind kind) {
    v.path  = f.path();
    v.model = std::string(f.get_string("tokenizer.ggml.model").value_or(""));
    v.pre   = std::string(f.get_string("tokenizer.ggml.pre").value_or(""));

    const gguf_value & tokens = require_array(f, k_tokens, gguf_value_type::STRING);
    const size_t       n      = tokens.strings.size();
    if (n == 0 || n > size_t(INT32_MAX)) fail("{}: '{}' has {} entries", f.path(), k_tokens, n);

    v.pieces.resize(n);
    for (size_t i = 0; i < n; ++i) {
        v.pieces[i] = std::string(tokens.strings[i]);
        // An empty piece could never be matched; llama.cpp renames it the same way.
        if (v.pieces[i].empty()) v.pieces[i] = "[EMPTY_" + std::to_string(i) + "]";
    }

    v.scores.assign(n, 0.0f);
    if (const gguf_value * s = f.get_array(k_scores)) {
        if (s->elem_type != gguf_value_type::FLOAT32 && s->elem_type != gguf_value_type::INT32) {
            fail("{}: '{}' must be an array of f32 or i32, found {}", f.path(), k_scores,
                 gguf_value_type_name(s->elem_type));
        }
        if (s->count < n) fail("{}: '{}' has {} entries for {} tokens", f.path(), k_scores, s->count, n);
        for (size_t i = 0; i < n; ++i) v.scores[i] = float(s->array_f64(i));
    }

    v.types.assign(n, token_type::NORMAL);
    if (const gguf_value * t = f.get_array(k_types)) {
        if (t->elem_type != gguf_value_type::INT32) {
            fail("{}: '{}' must be an array of i32, found {}", f.path(), k_types, gguf_value_type_name(t->elem_type));
        }
        if (t->count < n) fail("{}: '{}' has {} entries for {} tokens", f.path(), k_types, t->count, n);
        for (size_t i = 0; i < n; ++i) {
            const int64_t ty = t->array_i64(i);
            v.types[i]       = ty >= 0 && ty <= 6 ? token_type(ty) : token_type::UNDEFINED;
        }
    }

    v.ids.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const auto [it, fresh] = v.ids.emplace(std::string_view(v.pieces[i]), int32_t(i));
        if (!fresh)
            fail("{}: '{}': piece '{}' appears at ids {} and {}", f.path(), k_tokens, v.pieces[i], it->second, i);
    }

    load_specials(v, f, kind);

    for (int32_t id = 0; id < v.size(); ++id) {
        const token_type ty = v.type(id);
        if (ty == token_type::CONTROL || ty == token_type::USER_DEFINED || ty == token_type::UNKNOWN) {
            v.specials.push_back(id);
        }
    }
    std::stable_sort(v.specials.begin(), v.specials.end(),
                     [&](int32_t a, int32_t b) { return v.pieces[size_t(a)].size() > v.pieces[size_t(b)].size(); });
    mark_rstrip(v, f);
}

}  // namespace sluice
