// PCRE2 behind the pretokenizer interface, and the table of regexes per tokenizer.ggml.pre.
// The regexes are those of each model's tokenizer.json (Hugging Face); where llama.cpp splits
// one into several passes, so do we, because the test vectors were made that way.
#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode.h"
#include "util/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

namespace sluice {
namespace {

// GPT-2's pattern: contractions, letters, digits, other symbols, whitespace not before a word.
const char * const k_gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Llama 3's pattern (tiktoken cl100k style): case-insensitive contractions, a letter run with
// one leading non-letter, digit runs of at most 3, newlines kept with punctuation runs.
const char * const k_llama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Qwen2's: Llama 3's with single digits.
const char * const k_qwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// o200k (GPT-4o, gpt-oss): words split at case changes, contractions attached.
const char * const k_gpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Tekken (Mistral Nemo): o200k's word rule without contractions, single digits.
const char * const k_tekken = R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
                              R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
                              R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// DeepSeek LLM: newlines alone, then Latin/Greek/Cyrillic/... letter runs (an explicit list of
// cased-letter ranges), ASCII and full-width punctuation runs, trailing space, CJK runs, digits.
// Non-ASCII characters are written as \x{...}: several of them (U+1F7D, U+1FBE, U+2126,
// U+212A, ...) change under Unicode normalization, which an editor may apply silently.
const char * const k_deepseek_llm_letters =
    R"(\s?[)"
    R"(A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C})"
    R"(\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5})"
    R"(\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B})"
    R"(\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45})"
    R"(\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4})"
    R"(\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB})"
    R"(\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115})"
    R"(\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139})"
    R"(\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB})"
    R"(\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943})"
    R"(]+)";

const char * const k_cjk_runs = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

// GPT-2's pattern without the trailing catch-all (the split keeps unmatched text anyway).
const char * const k_gpt2_words = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

// BLOOM-family: anything up to whitespace or sentence punctuation.
const char * const k_bloom = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)";

struct entry {
    std::vector<std::string_view> names;
    std::vector<std::string>      regexes;
    bool                          ignore_merges = false;
    bool                          add_bos       = false;
};

const std::vector<entry> & table() {
    static const std::vector<entry> t = {
        {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", k_gpt2_words, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
        {{"gpt-2", "mpt", "olmo", "jais", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "exaone4",
          "trillion", "granite-docling", "gigachat", "a.x-4.0", "mellum", "modern-bert"},
         {k_gpt2}},
        {{"llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
         {k_llama3},
         true,
         true},
        {{"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {k_llama3}},
        {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "grok-2", "solar-open"}, {k_qwen2}},
        {{"gpt-4o", "llama4", "minimax-m2"}, {k_gpt4o}},
        {{"tekken"}, {k_tekken}, true, true},
        {{"deepseek-llm"},
         {R"([\r\n])", k_deepseek_llm_letters,
          R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)", R"(\s+$)", k_cjk_runs,
          R"(\p{N}+)"}},
        {{"deepseek-coder"}, {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", k_cjk_runs, R"(\p{N})"}},
        {{"deepseek-v3", "hunyuan-dense"},
         {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
          R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
        {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", k_gpt2_words, "[0-9][0-9][0-9]"}},
        {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
         {R"(\p{N})", k_gpt2_words}},
        {{"bloom", "poro-chat", "gpt3-finnish"}, {k_bloom}},
        {{"viking"}, {k_bloom, R"(\p{N})"}},
    };
    return t;
}

}  // namespace

std::vector<std::string_view> known_pretokenizers() {
    std::vector<std::string_view> names;
    for (const entry & e : table()) names.insert(names.end(), e.names.begin(), e.names.end());
    return names;
}

pretokenizer_config pretokenizer_for(std::string_view pre, const std::string & path) {
    // A missing name means a converter that predates tokenizer.ggml.pre; llama.cpp uses
    // "default" for it too. An unknown name is refused: a wrong split silently changes ids.
    if (pre.empty()) pre = "default";
    for (const entry & e : table()) {
        if (std::find(e.names.begin(), e.names.end(), pre) != e.names.end()) {
            return {e.regexes, e.ignore_merges, e.add_bos};
        }
    }
    std::string known;
    for (std::string_view n : known_pretokenizers()) known += (known.empty() ? "" : ", ") + std::string(n);
    fail("{}: tokenizer.ggml.pre '{}' is not supported (known: {})", path, pre, known);
}

struct pretokenizer::impl {
    std::vector<pcre2_code *> codes;
    ~impl() {
        for (pcre2_code * c : codes) pcre2_code_free(c);
    }
};

pretokenizer::pretokenizer(const std::vector<std::string> & regexes, const std::string & path)
    : impl_(std::make_unique<impl>()) {
    for (const std::string & rx : regexes) {
        int        err    = 0;
        PCRE2_SIZE erroff = 0;
        // MATCH_INVALID_UTF: bad bytes in the input are skipped over instead of failing the
        // match; DOLLAR_ENDONLY: '$' means the end of the fragment, not before a final '\n'.
        pcre2_code * code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rx.data()), rx.size(),
                                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err,
                                          &erroff, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail("{}: pre-tokenizer regex does not compile at offset {}: {}", path, erroff,
                 reinterpret_cast<const char *>(msg));
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is absent
        impl_->codes.push_back(code);
    }
}

pretokenizer::~pretokenizer() = default;

void pretokenizer::split(std::string_view text, std::vector<std::pair<size_t, size_t>> & words) const {
    words.clear();
    if (text.empty()) return;
    words.emplace_back(0, text.size());
    std::vector<std::pair<size_t, size_t>> next;
    for (pcre2_code * code : impl_->codes) {
        pcre2_match_data * md = pcre2_match_data_create_from_pattern(code, nullptr);
        if (!md) fail("out of memory creating PCRE2 match data");
        next.clear();
        for (const auto & [off, len] : words) {
            const auto * subject = reinterpret_cast<PCRE2_SPTR>(text.data() + off);
            size_t       pos     = 0;  // start of the text not yet emitted, fragment-relative
            size_t       from    = 0;  // where the next search starts
            while (from <= len) {
                const int rc = pcre2_match(code, subject, len, from, 0, md, nullptr);
                if (rc < 0) break;  // no match (or a matcher limit): the rest stays one piece
                const PCRE2_SIZE * ov = pcre2_get_ovector_pointer(md);
                const size_t       b = ov[0], e = ov[1];
                if (e == b) {  // an empty match cuts nothing; step over one character
                    if (b >= len) break;
                    from = b + std::min(utf8::char_len(uint8_t(text[off + b])), len - b);
                    continue;
                }
                if (b > pos) next.emplace_back(off + pos, b - pos);
                next.emplace_back(off + b, e - b);
                pos = from = e;
            }
            if (pos < len) next.emplace_back(off + pos, len - pos);
        }
        pcre2_match_data_free(md);
        words.swap(next);
    }
}

}  // namespace sluice
