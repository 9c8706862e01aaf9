#include "model/tensor_table.h"

#include "gguf/gguf.h"

#include <fmt/format.h>

#include <algorithm>

namespace sluice {

std::string_view name_of(tensor_role r) {
    switch (r) {
        case tensor_role::EMBEDDING:
            return "embedding";
        case tensor_role::OUTPUT:
            return "output";
        case tensor_role::NORM:
            return "norm";
        case tensor_role::ATTENTION:
            return "attention";
        case tensor_role::ROUTER:
            return "router";
        case tensor_role::EXPERTS:
            return "experts";
        case tensor_role::EXPERT_BIAS:
            return "expert bias";
        case tensor_role::SHARED_EXPERT:
            return "shared expert";
        case tensor_role::DENSE_FFN:
            return "dense ffn";
        case tensor_role::RECURRENT:
            return "recurrent";
    }
    return "?";
}

std::string tensor_spec::file_name(int64_t layer) const {
    const std::string stem = where == block_set::GLOBAL ? std::string(name) : fmt::format("blk.{}.{}", layer, name);
    return suffix.empty() ? stem : fmt::format("{}.{}", stem, suffix);
}

tensor_dims::tensor_dims(const model_hparams & h) : hp(h) {}

int64_t tensor_dims::operator()(dim d) const {
    switch (d) {
        case dim::NONE:
            return 0;
        case dim::EMBD:
            return hp.n_embd;
        case dim::VOCAB:
            return hp.n_vocab;
        case dim::HEAD:
            return hp.head_dim;
        case dim::HEADS:
            return hp.n_head;
        case dim::Q:
            return hp.n_head * hp.head_dim;
        case dim::Q_GATED:
            return 2 * hp.n_head * hp.head_dim;
        case dim::KV:
            return hp.n_head_kv * hp.head_dim;
        case dim::EXPERTS:
            return hp.n_expert;
        case dim::FF:
            return hp.n_ff;
        case dim::FF_EXPERT:
            return hp.n_ff_expert;
        case dim::FF_SHARED:  // DeepSeek gives a count of expert-wide shared experts instead
            return hp.n_ff_shared > 0 ? hp.n_ff_shared : hp.n_ff_expert * std::max<int64_t>(1, hp.n_expert_shared);
        case dim::Q_LORA:
            return hp.q_lora_rank;
        case dim::MLA_Q:
            return hp.n_head * hp.head_dim_mla;
        case dim::KV_LORA:
            return hp.kv_lora_rank;
        case dim::MLA_KV_A:
            return hp.kv_lora_rank + hp.rope_dim;
        case dim::MLA_NOPE:
            return hp.head_dim_mla - hp.rope_dim;
        case dim::MLA_V_HEAD:
            return hp.v_head_dim_mla;
        case dim::MLA_V:
            return hp.n_head * hp.v_head_dim_mla;
        case dim::SSM_CONV:
            return 2 * hp.ssm_group_count * hp.ssm_state_size + hp.ssm_inner_size;
        case dim::SSM_VALUE:
            return hp.ssm_inner_size;
        case dim::SSM_BA:
            return 2 * hp.ssm_time_step_rank;
        case dim::SSM_V_HEADS:
            return hp.ssm_time_step_rank;
        case dim::SSM_HEAD_V:
            return hp.ssm_time_step_rank > 0 ? hp.ssm_inner_size / hp.ssm_time_step_rank : 0;
        case dim::SSM_CONV_KERNEL:
            return hp.ssm_conv_kernel;
    }
    return 0;
}

std::vector<int64_t> tensor_dims::shape(const tensor_spec & s) const {
    std::vector<int64_t> out;
    for (dim d : s.shape) {
        if (d == dim::NONE) {
            break;
        }
        out.push_back((*this)(d));
    }
    return out;
}

bool block_has(const tensor_spec & s, const model_hparams & hp, int64_t l) {
    const bool recurrent = hp.full_attention_interval > 0 && (l + 1) % hp.full_attention_interval != 0;
    switch (s.where) {
        case block_set::GLOBAL:
            return false;
        case block_set::ALL:
            return true;
        case block_set::FULL_ATTENTION:
            return !recurrent;
        case block_set::RECURRENT:
            return recurrent;
        case block_set::DENSE_LEAD:
            return l < hp.n_layer_dense_lead;
        case block_set::MOE:
            return l >= hp.n_layer_dense_lead;
        case block_set::Q_LORA:
            return hp.q_lora_rank > 0;
        case block_set::NO_Q_LORA:
            return hp.q_lora_rank == 0;
    }
    return false;
}

std::vector<tensor_spec> decoder_ends() {
    using enum dim;
    return {
        {.name = "token_embd", .shape = {EMBD, VOCAB}, .role = tensor_role::EMBEDDING, .where = block_set::GLOBAL},
        {.name = "output_norm", .shape = {EMBD}, .role = tensor_role::NORM, .where = block_set::GLOBAL, .init = 1},
        {.name     = "output",
         .shape    = {EMBD, VOCAB},
         .role     = tensor_role::OUTPUT,
         .where    = block_set::GLOBAL,
         .optional = true},
    };
}

std::vector<tensor_spec> attention_moe_table(std::string_view ffn_norm, std::initializer_list<tensor_spec> extra) {
    using enum dim;
    std::vector<tensor_spec> t       = decoder_ends();
    const tensor_spec        block[] = {
               {.name = "attn_norm", .shape = {EMBD}, .role = tensor_role::NORM, .init = 1},
               {.name = "attn_q", .shape = {EMBD, Q}},
               {.name = "attn_k", .shape = {EMBD, KV}},
               {.name = "attn_v", .shape = {EMBD, KV}},
               {.name = "attn_output", .shape = {Q, EMBD}},
               {.name = ffn_norm, .shape = {EMBD}, .role = tensor_role::NORM, .init = 1},
               {.name = "ffn_gate_inp", .shape = {EMBD, EXPERTS}, .role = tensor_role::ROUTER, .f32 = true},
    };
    t.insert(t.end(), std::begin(block), std::end(block));
    append_routed_experts(t, block_set::ALL);
    t.insert(t.end(), extra.begin(), extra.end());
    return t;
}

void append_routed_experts(std::vector<tensor_spec> & t, block_set where) {
    using enum dim;
    constexpr tensor_role x = tensor_role::EXPERTS;
    t.push_back({.name = "ffn_gate_exps", .shape = {EMBD, FF_EXPERT, EXPERTS}, .role = x, .where = where});
    t.push_back({.name = "ffn_up_exps", .shape = {EMBD, FF_EXPERT, EXPERTS}, .role = x, .where = where});
    t.push_back({.name = "ffn_down_exps", .shape = {FF_EXPERT, EMBD, EXPERTS}, .role = x, .where = where});
}

void append_shared_expert(std::vector<tensor_spec> & t, block_set where, bool gated, bool optional) {
    using enum dim;
    constexpr tensor_role s = tensor_role::SHARED_EXPERT;
    t.push_back(
        {.name = "ffn_gate_shexp", .shape = {EMBD, FF_SHARED}, .role = s, .where = where, .optional = optional});
    t.push_back({.name = "ffn_up_shexp", .shape = {EMBD, FF_SHARED}, .role = s, .where = where, .optional = optional});
    t.push_back(
        {.name = "ffn_down_shexp", .shape = {FF_SHARED, EMBD}, .role = s, .where = where, .optional = optional});
    if (gated) {
        t.push_back({.name = "ffn_gate_inp_shexp", .shape = {EMBD}, .role = s, .where = where, .optional = optional});
    }
}

std::vector<const tensor_spec *> tensor_specs(const gguf_file & f) {
    const std::span<const tensor_spec> table = tensor_table(f.architecture());
    std::vector<const tensor_spec *>   specs;
    for (const gguf_tensor & t : f.tensors()) {
        std::string_view rest     = t.name;
        bool             in_block = false;
        if (rest.starts_with("blk.")) {  // "blk.<l>.<name>.<suffix>" -> "<name>.<suffix>"
            const size_t dot = rest.find('.', 4);
            in_block         = dot != std::string_view::npos;
            rest             = in_block ? rest.substr(dot + 1) : rest;
        }
        const tensor_spec * found = nullptr;
        for (const tensor_spec & s : table) {
            if ((s.where == block_set::GLOBAL) == in_block) {
                continue;
            }
            const bool match = s.suffix.empty()
                                   ? rest == s.name
                                   : rest.size() == s.name.size() + 1 + s.suffix.size() && rest.starts_with(s.name) &&
                                         rest[s.name.size()] == '.' && rest.ends_with(s.suffix);
            if (match) {
                found = &s;
                break;
            }
        }
        specs.push_back(found);
    }
    return specs;
}

std::vector<std::optional<tensor_role>> tensor_roles(const gguf_file & f) {
    std::vector<std::optional<tensor_role>> roles;
    for (const tensor_spec * s : tensor_specs(f)) {
        roles.push_back(s ? std::optional(s->role) : std::nullopt);
    }
    return roles;
}

int tensor_block(std::string_view name) {
    if (name.rfind("blk.", 0) != 0) {
        return -1;
    }
    int v = 0;
    for (size_t i = 4; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

}  // namespace sluice
