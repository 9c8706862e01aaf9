#include "model/token_io.h"

#include "model/layers.h"
#include "model/weights.h"
#include "tensor/quantize.h"
#include "util/error.h"

namespace sluice {

token_io token_io::load(const gguf_file & f, int64_t n_embd) {
    token_io io;
    io.n_embd              = n_embd;
    io.token_embd          = &f.require_tensor("token_embd.weight");
    const gguf_tensor & te = *io.token_embd;
    if (te.n_dims != 2 || te.ne[0] != n_embd) {
        fail("{}: tensor 'token_embd.weight' has row length {}, expected {} (offset {})", f.path_of(te), te.ne[0],
             n_embd, te.info_offset);
    }
    if (!traits(te.type).computable) {
        fail("{}: tensor 'token_embd.weight' has type {}, which sluice cannot compute with", f.path_of(te),
             type_name(te.type));
    }
    io.n_vocab     = te.ne[1];
    io.output_norm = require_vector(f, "output_norm.weight", n_embd);
    io.output      = optional_matrix(f, "output.weight", n_embd, io.n_vocab);
    if (io.output.data == nullptr) {  // tied embeddings
        io.output = weight_matrix{te.type, io.n_vocab, n_embd, te.row_bytes(), te.data};
    }
    return io;
}

void token_io::embed(std::span<const int32_t> tokens, float * x) const {
    const uint64_t rb = token_embd->row_bytes();
    for (size_t t = 0; t < tokens.size(); ++t) {
        dequantize_row(token_embd->type, token_embd->data + rb * static_cast<uint64_t>(tokens[t]), x + t * n_embd,
                       n_embd);
    }
}

void token_io::logits(const float * x, int64_t n, float eps, float * h, matmul_runner & mm, float * out) const {
    rms_norm(x, output_norm.data(), h, n, n_embd, eps);
    mm.matmul(output, h, n, out);
}

void check_tokens(std::span<const int32_t> tokens, int64_t pos0, int64_t n_ctx, int64_t n_vocab) {
    const auto n = static_cast<int64_t>(tokens.size());
    if (pos0 + n > n_ctx) {
        fail("context full: {} positions cached + {} new tokens exceed the context of {}", pos0, n, n_ctx);
    }
    for (int32_t id : tokens) {
        if (id < 0 || id >= n_vocab) {
            fail("token id {} is out of range (vocabulary of {})", id, n_vocab);
        }
    }
}

}  // namespace sluice
