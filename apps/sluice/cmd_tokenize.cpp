// `sluice tokenize -m M (-p TEXT | -f FILE) [--ids-only] [--no-bos] [--no-parse-special]` and
// `sluice detokenize -m M --ids 1,2,3 [--special]`: the model's tokenizer from the command line.

#include "cli_common.h"
#include "commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <memory>
#include <string>

namespace sluice::cli {
namespace {

struct tokenize_options {
    std::string model;
    std::string prompt;
    std::string file;
    bool        ids_only         = false;
    bool        no_bos           = false;
    bool        no_parse_special = false;  // control-token text is matched by default, as llama-tokenize does
};

struct detokenize_options {
    std::string model;
    std::string ids;
    bool        special = false;
};

std::unique_ptr<tokenizer> open_tokenizer(const std::string & path) {
    const gguf_file f = gguf_file::open(path);
    return tokenizer::from_gguf(f);  // copies what it needs; the mapping can go
}

// A token's bytes as a quoted, one-line string: control characters and bytes that are not
// valid UTF-8 (half characters from byte tokens) are escaped so the line stays readable.
std::string show_piece(std::string_view bytes) {
    std::string out = "'";
    for (size_t i = 0, len = 0; i < bytes.size(); i += len) {
        if (utf8::classify(bytes, i, len) != utf8::scan::VALID) {
            for (size_t k = 0; k < len; ++k) out += fmt::format("\\x{:02x}", uint8_t(bytes[i + k]));
            continue;
        }
        const char c = bytes[i];
        if (len > 1) {
            out.append(bytes.substr(i, len));
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\\' || c == '\'') {
            out += '\\';
            out += c;
        } else if (uint8_t(c) < 0x20 || c == 0x7F) {
            out += fmt::format("\\x{:02x}", uint8_t(c));
        } else {
            out += c;
        }
    }
    return out + "'";
}

// Ids separated by commas and/or spaces, optionally in brackets (the --ids-only format).
std::vector<int32_t> parse_ids(const std::string & text, int32_t n_vocab) {
    std::vector<int32_t> ids;
    std::string          cur;
    auto                 flush = [&] {
        if (cur.empty()) return;
        size_t    used = 0;
        long long v    = 0;
        try {
            v = std::stoll(cur, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != cur.size()) fail("--ids: '{}' is not a token id", cur);
        if (v < 0 || v >= n_vocab) fail("--ids: {} is outside the vocabulary (0..{})", v, n_vocab - 1);
        ids.push_back(int32_t(v));
        cur.clear();
    };
    for (char c : text) {
        if (c == ',' || c == ' ' || c == '[' || c == ']' || c == '\n' || c == '\t') {
            flush();
        } else {
            cur += c;
        }
    }
    flush();
    return ids;
}

}  // namespace

void add_tokenize_commands(CLI::App & app) {
    auto   topt = std::make_shared<tokenize_options>();
    auto * tok  = app.add_subcommand("tokenize", "print the token ids of a text");
    tok->add_option("-m,--model", topt->model, "GGUF file (a model or a vocab-only file)")->required();
    auto * p = tok->add_option("-p,--prompt", topt->prompt, "Text to tokenize");
    auto * f = tok->add_option("-f,--file", topt->file, "File whose bytes to tokenize");
    p->excludes(f);
    tok->add_flag("--ids-only", topt->ids_only, "Print only the ids, as [1, 2, 3]");
    tok->add_flag("--no-bos", topt->no_bos, "Do not add BOS/EOS even if the model asks for them");
    tok->add_flag("--no-parse-special", topt->no_parse_special,
                  "Tokenize the text of control tokens (e.g. <|im_start|>) as plain text; by default it becomes "
                  "the control token, as llama-tokenize does");
    tok->callback([topt, p, f] {
        if (p->count() == 0 && f->count() == 0) fail("tokenize: give the text with -p TEXT or -f FILE");
        const auto        t    = open_tokenizer(topt->model);
        const std::string text = f->count() ? read_text_file(topt->file) : topt->prompt;
        const auto        ids  = t->encode(text, !topt->no_bos, !topt->no_parse_special);
        if (topt->ids_only) {
            fmt::print("[{}]\n", fmt::join(ids, ", "));
            return;
        }
        for (int32_t id : ids) fmt::print("{}\t{}\n", id, show_piece(t->token_bytes(id, true)));
    });

    auto   dopt  = std::make_shared<detokenize_options>();
    auto * detok = app.add_subcommand("detokenize", "print the text of token ids");
    detok->add_option("-m,--model", dopt->model, "GGUF file (a model or a vocab-only file)")->required();
    detok->add_option("--ids", dopt->ids, "Token ids, e.g. 1,2,3 or \"[1, 2, 3]\"")->required();
    detok->add_flag("--special", dopt->special, "Also print the text of control tokens");
    detok->callback([dopt] {
        const auto  t = open_tokenizer(dopt->model);
        detokenizer stream(*t, dopt->special);
        std::string out;
        for (int32_t id : parse_ids(dopt->ids, t->n_vocab())) out += stream.push(id);
        out += stream.flush();
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fputc('\n', stdout);
    });
}

}  // namespace sluice::cli
