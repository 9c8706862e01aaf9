// llama with experts: Mixtral-8x7B, Mixtral-8x22B and other models in the Mixtral layout
// (general.architecture = llama plus expert_count).
//
// Per layer: RMSNorm -> Q/K/V -> normal (adjacent-pair) RoPE -> causal GQA -> output
// projection -> residual; RMSNorm -> router softmax over all experts -> top-k, weights
// renormalised -> SwiGLU experts -> weighted sum -> residual. No q/k norms, no biases, no
// shared expert. The expert width is llama.feed_forward_length.
#include "gguf/gguf.h"
#include "model/architectures.h"
#include "model/transformer.h"
#include "util/error.h"

namespace sluice {

std::span<const tensor_spec> llama_tensors() {
    static const std::vector<tensor_spec> t = attention_moe_table("ffn_norm", {});
    return t;
}

std::unique_ptr<model> build_llama(const gguf_file & f) {
    if (!f.get_u32("llama.expert_count")) {
        fail(
            "{}: metadata 'llama.expert_count' is missing: dense llama models are not supported, only the Mixtral "
            "layout with experts",
            f.path());
    }
    model_hparams hp = read_moe_hparams(f, "llama");
    if (hp.n_ff_expert == 0) {  // the usual case: the expert width is the FFN width
        hp.n_ff_expert = f.require_u32("llama.feed_forward_length");
    }
    transformer_variant v;
    v.rope              = rope_style::NORMAL;
    v.routing.normalize = true;
    auto m              = std::make_unique<moe_transformer>(f, hp, v, llama_tensors());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        read_standard_block(m->tensors(l), m->add_block());
    }
    m->finish();
    return m;
}

}  // namespace sluice
