#include "gguf/summary.h"

#include <fmt/format.h>

namespace sluice {

std::string terminal_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t k = 0; k < s.size(); ++k) {
        const auto c = static_cast<unsigned char>(s[k]);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else if (c == 0xc2 && k + 1 < s.size() && static_cast<unsigned char>(s[k + 1]) >= 0x80 &&
                   static_cast<unsigned char>(s[k + 1]) <= 0x9f) {  // U+0080..U+009F, the C1 controls
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(s[++k]));
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string render_value(const gguf_value & v, size_t max_items) {
    switch (v.type) {
        case gguf_value_type::STRING:
            return fmt::format("\"{}\"", terminal_text(v.str.size() > 60 ? std::string(v.str.substr(0, 57)) + "..."
                                                                         : std::string(v.str)));
        case gguf_value_type::BOOL:
            return v.u ? "true" : "false";
        case gguf_value_type::FLOAT32:  // shortest text that reads back as the same float
            return fmt::format("{}", static_cast<float>(v.f));
        case gguf_value_type::FLOAT64:
            return fmt::format("{}", v.f);
        case gguf_value_type::ARRAY: {
            std::string  out   = fmt::format("[{} x {}:", gguf_value_type_name(v.elem_type), v.count);
            const size_t shown = static_cast<size_t>(std::min<uint64_t>(v.count, max_items));
            for (size_t k = 0; k < shown; ++k) {
                if (v.elem_type == gguf_value_type::STRING) {
                    out += fmt::format(" \"{}\"", terminal_text(v.strings[k]));
                } else if (v.elem_type == gguf_value_type::ARRAY) {
                    out += ' ';  // two appends: GCC 12 -O3 warns falsely (-Wrestrict) on `" " + string`
                    out += render_value(v.items[k], max_items);
                } else if (v.elem_type == gguf_value_type::FLOAT32 || v.elem_type == gguf_value_type::FLOAT64) {
                    out += fmt::format(" {}", v.array_f64(k));
                } else {
                    out += fmt::format(" {}", v.array_i64(k));
                }
            }
            return out + (v.count > shown ? " ...]" : "]");
        }
        default:
            return v.type == gguf_value_type::INT64 || v.type == gguf_value_type::INT32 ||
                           v.type == gguf_value_type::INT16 || v.type == gguf_value_type::INT8
                       ? fmt::format("{}", v.i)
                       : fmt::format("{}", v.u);
    }
}

gguf_summary summarize(const gguf_file & file) {
    gguf_summary s;
    s.path         = file.path();
    s.file_size    = file.total_size();
    s.version      = file.version();
    s.alignment    = file.alignment();
    s.architecture = std::string(file.architecture());
    s.name         = std::string(file.get_string("general.name").value_or(""));
    s.n_tensors    = file.tensors().size();
    s.n_metadata   = file.metadata().size();
    for (size_t i = 0; i < file.n_parts(); ++i) {
        s.parts.push_back({file.part(i).path(), file.part(i).file_size(), 0});
    }
    for (const gguf_tensor & t : file.tensors()) {
        s.parts[t.part].n_tensors += 1;  // part(0).tensors() are every part's
    }

    if (!s.architecture.empty()) {
        const std::string prefix = s.architecture + ".";
        for (const gguf_kv & kv : file.metadata()) {
            if (kv.key.starts_with(prefix)) {
                s.hparams.emplace_back(std::string(kv.key.substr(prefix.size())), render_value(kv.value));
            }
        }
        s.context_length = file.get_u64(prefix + "context_length").value_or(0);
    }

    s.tokenizer_model = std::string(file.get_string("tokenizer.ggml.model").value_or(""));
    s.tokenizer_pre   = std::string(file.get_string("tokenizer.ggml.pre").value_or(""));
    if (const gguf_value * tokens = file.get_array("tokenizer.ggml.tokens")) {
        s.vocab_size = tokens->count;
    }
    s.has_chat_template = file.find("tokenizer.chat_template") != nullptr;

    for (const gguf_tensor & t : file.tensors()) {
        type_bytes & tb = s.by_type[std::string(type_name(t.type))];
        tb.tensors += 1;
        tb.bytes += t.nbytes;
        s.tensor_bytes += t.nbytes;
        s.n_params += static_cast<uint64_t>(t.n_elements());
    }
    return s;
}

}  // namespace sluice
