// The tokenizer base: picks the implementation from tokenizer.ggml.model and answers the
// questions every kind answers the same way (ids, flags, pieces).
#include "tokenizer/tokenizer.h"

#include "gguf/gguf.h"
#include "tokenizer/tokenizer_kinds.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace sluice {

std::unique_ptr<tokenizer> tokenizer::from_gguf(const gguf_file & f) {
    const auto model = f.get_string("tokenizer.ggml.model");
    if (!model) fail("{}: no tokenizer (missing key 'tokenizer.ggml.model')", f.path());
    if (*model == "llama") return make_spm_tokenizer(f);
    if (*model == "gpt2") return make_bpe_tokenizer(f);
    fail("{}: tokenizer.ggml.model '{}' is not supported (known: llama, gpt2)", f.path(), *model);
}

tokenizer::tokenizer(std::unique_ptr<vocab> v) : vocab_(std::move(v)) {}

tokenizer::~tokenizer() = default;

std::string tokenizer::token_bytes(int32_t id, bool special) const {
    const vocab & v = *vocab_;
    if (!v.valid(id)) return {};
    const std::string & p = v.pieces[size_t(id)];
    switch (v.type(id)) {
        case token_type::CONTROL:
        case token_type::UNKNOWN:
            return special ? p : std::string();
        case token_type::USER_DEFINED:
            return p;  // added tokens are stored as plain text
        case token_type::BYTE:
            return piece_bytes(p, true);
        default:
            return piece_bytes(p, false);
    }
}

std::string tokenizer::decode(std::span<const int32_t> ids, bool special) const {
    std::string out;
    bool        at_start = true;
    for (int32_t id : ids) {
        std::string piece = token_bytes(id, special);
        if (at_start && !piece.empty()) {
            at_start = false;
            if (strips_leading_space() && piece[0] == ' ') piece.erase(0, 1);
        }
        out += piece;
    }
    return out;
}

int32_t tokenizer::n_vocab() const {
    return vocab_->size();
}
int32_t tokenizer::bos() const {
    return vocab_->bos;
}
int32_t tokenizer::eos() const {
    return vocab_->eos;
}
int32_t tokenizer::eot() const {
    return vocab_->eot;
}
int32_t tokenizer::unk() const {
    return vocab_->unk;
}
int32_t tokenizer::pad() const {
    return vocab_->pad;
}
bool tokenizer::add_bos() const {
    return vocab_->add_bos;
}
bool tokenizer::add_eos() const {
    return vocab_->add_eos;
}

bool tokenizer::is_end_of_generation(int32_t id) const {
    return vocab_->valid(id) && vocab_->eog[size_t(id)];
}

bool tokenizer::is_control(int32_t id) const {
    return vocab_->valid(id) && vocab_->type(id) == token_type::CONTROL;
}

std::string_view tokenizer::piece(int32_t id) const {
    return vocab_->valid(id) ? std::string_view(vocab_->pieces[size_t(id)]) : std::string_view();
}

int32_t tokenizer::find_piece(std::string_view text) const {
    return vocab_->find(text);
}

bool tokenizer::strips_leading_space() const {
    return kind() == "spm" && vocab_->add_space_prefix;
}

}  // namespace sluice
