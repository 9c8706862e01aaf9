// An architecture's tensors as data: each tensor's name, its shape in terms of the model's
// hyper-parameters, its role and the blocks that have it, written once per architecture.
// The architecture's builder reads its weights through the table (block_tensors checks each
// shape against it), `sluice synth` writes a model from it, and `sluice info` and the engine
// account bytes by its roles (which tensors are routed experts).
#pragma once

#include "model/hparams.h"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class gguf_file;

// What a tensor is for.
enum class tensor_role : uint8_t {
    EMBEDDING,      // token_embd
    OUTPUT,         // output (absent: tied to the embeddings)
    NORM,           // RMSNorm weights
    ATTENTION,      // attention projections, their biases, norms inside attention, sinks
    ROUTER,         // ffn_gate_inp, its bias, DeepSeek's selection bias
    EXPERTS,        // the stacked routed experts: what streams from disk
    EXPERT_BIAS,    // per-expert biases (gpt-oss): small, resident
    SHARED_EXPERT,  // the always-on shared expert(s) and their gate
    DENSE_FFN,      // a dense block's FFN (DeepSeek's leading blocks)
    RECURRENT,      // gated DeltaNet's projections, convolution and decay
};

std::string_view name_of(tensor_role r);

// A dimension, in terms of the hyper-parameters (see tensor_dims for each one's value).
enum class dim : uint8_t {
    NONE,  // ends a shape
    EMBD,
    VOCAB,
    HEAD,     // head_dim
    HEADS,    // n_head
    Q,        // n_head * head_dim
    Q_GATED,  // 2 * n_head * head_dim: per head a query and an output gate (Qwen3-Next)
    KV,       // n_head_kv * head_dim
    EXPERTS,
    FF,         // a dense FFN's width
    FF_EXPERT,  // one routed expert's width
    FF_SHARED,  // the shared expert(s)' width
    Q_LORA,     // MLA: compressed query width
    MLA_Q,      // MLA: n_head * (nope + rope)
    KV_LORA,    // MLA: the latent's width
    MLA_KV_A,   // MLA: kv_lora + rope
    MLA_NOPE,   // MLA: per-head key dims without RoPE
    MLA_V_HEAD,
    MLA_V,           // MLA: n_head * v_head
    SSM_CONV,        // DeltaNet: channels of the convolution (q, k, v)
    SSM_VALUE,       // DeltaNet: n_v_heads * head_v
    SSM_BA,          // DeltaNet: 2 * n_v_heads
    SSM_V_HEADS,     // DeltaNet: value heads
    SSM_HEAD_V,      // DeltaNet: one value head's width
    SSM_CONV_KERNEL  // DeltaNet: taps of the convolution
};

// Which tensors of a file a spec stands for.
enum class block_set : uint8_t {
    GLOBAL,          // not per block: "<name>.<suffix>"
    ALL,             // every block: "blk.<l>.<name>.<suffix>"
    FULL_ATTENTION,  // blocks with full attention (all but DeltaNet's)
    RECURRENT,       // DeltaNet blocks: (l + 1) % full_attention_interval != 0
    DENSE_LEAD,      // the first leading_dense_block_count blocks
    MOE,             // the routed blocks after them
    Q_LORA,          // MLA blocks with a compressed query (q_lora_rank > 0)
    NO_Q_LORA,       // MLA blocks with a plain attn_q
};

struct tensor_spec {
    std::string_view   name;                 // "attn_q"; with block_set::GLOBAL the whole stem ("token_embd")
    std::string_view   suffix   = "weight";  // "weight", "bias", or "" (Qwen3-Next's ssm_a)
    std::array<dim, 3> shape    = {};        // GGUF order: ne[0] (the row length) first
    tensor_role        role     = tensor_role::ATTENTION;
    block_set          where    = block_set::ALL;
    bool               optional = false;  // absent in some files (the builder decides what that means)
    bool               f32      = false;  // stored as F32 in the files (synth writes it so)
    float              init     = 0.0f;   // synth: the value of a constant tensor (1-D, expert biases)

    std::string file_name(int64_t layer) const;  // the GGUF tensor name for block `layer`
};

// The value of each dim for one model.
struct tensor_dims {
    explicit tensor_dims(const model_hparams & hp);
    int64_t              operator()(dim d) const;
    std::vector<int64_t> shape(const tensor_spec & s) const;  // without the trailing NONEs

    const model_hparams & hp;
};

// Whether block `layer` of the model has the spec's tensor (GLOBAL: never).
bool block_has(const tensor_spec & s, const model_hparams & hp, int64_t layer);

// Rows every decoder has: token_embd, output_norm and output (optional: tied embeddings).
std::vector<tensor_spec> decoder_ends();
// decoder_ends() plus the block of the attention + MoE architectures: attn_norm, attn_q/k/v/
// output, the norm before the FFN (named `ffn_norm`), ffn_gate_inp and the stacked experts,
// then `extra`.
std::vector<tensor_spec> attention_moe_table(std::string_view ffn_norm, std::initializer_list<tensor_spec> extra);

// Appends the stacked routed experts of the blocks in `where`: ffn_{gate,up,down}_exps, in the
// order block_tensors::experts() takes them.
void append_routed_experts(std::vector<tensor_spec> & t, block_set where);
// Appends a SwiGLU shared expert (ffn_{gate,up,down}_shexp) of the blocks in `where`, with its
// sigmoid gate ffn_gate_inp_shexp when `gated`.
void append_shared_expert(std::vector<tensor_spec> & t, block_set where, bool gated, bool optional);

// The table of an architecture (model/registry.cpp), or an empty span for an unknown one.
std::span<const tensor_spec> tensor_table(std::string_view arch);

// The spec of each of the file's tensors by its architecture's table, in the file's tensor
// order; nullptr for a tensor the table does not name (or a file of an unknown architecture).
// The specs live as long as the table (static).
std::vector<const tensor_spec *> tensor_specs(const gguf_file & f);

// The role of each of the file's tensors by its architecture's table, in the file's tensor
// order; nullopt for a tensor the table does not name (or a file of an unknown architecture).
std::vector<std::optional<tensor_role>> tensor_roles(const gguf_file & f);

// The block a tensor belongs to by its name ("blk.12.ffn_up_exps.weight": 12), -1 for the
// model's global tensors.
int tensor_block(std::string_view name);

}  // namespace sluice
