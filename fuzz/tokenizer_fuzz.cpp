// libFuzzer target for the tokenizer loader: the input is a GGUF file; when it parses, the
// tokenizer is built from its tokenizer.ggml.* metadata (pieces, scores, types, merges,
// special ids, pre-tokenizer name) and, when that succeeds, encodes and decodes a fixed text
// with and without special tokens. Each step may refuse with sluice::error; any other
// exception, a sanitizer report, a hang or a trap is a bug.
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    try {
        const sluice::gguf_file                  f   = sluice::gguf_file::parse({data, size}, "fuzz.gguf");
        const std::unique_ptr<sluice::tokenizer> tok = sluice::tokenizer::from_gguf(f);
        for (bool special : {false, true}) {
            const std::vector<int32_t> ids =
                tok->encode("Hello world! <s></s><|im_start|> \xc3\xa9\xff 12345\n\tdef f(x):", true, special);
            (void)tok->decode(ids, special);
            for (int32_t id : ids) {
                (void)tok->token_bytes(id, special);
            }
        }
        if (tok->n_vocab() > 0) {
            (void)tok->token_bytes(tok->n_vocab() - 1, true);
        }
    } catch (const sluice::error &) {
        // the one expected outcome for a bad file
    }
    return 0;
}
