// deepseek2 (multi-head latent attention, a dense leading block, sigmoid group-limited
// routing with a selection bias, a shared expert) against llama.cpp's logits.
#include "arch_reference.h"

namespace sluice::test {
namespace {

const std::string k_model = data_path("archs/tiny-deepseek2-f32.gguf");

// The reference ran F32 attention (flash attention off): the fixture README expects about
// 1e-4 at every position with the same routing; the 6-significant-digit rounding of the
// references alone is up to ~5e-5.
constexpr double k_max_abs = 1e-4;

TEST(deepseek2, logits_match_llama_cpp_at_every_position) {
    engine               e = open_arch(k_model);
    const nlohmann::json g = read_json(data_path("archs/tiny-deepseek2-f32.json"));
    for (const auto & c : g["cases"]) {
        const logits_diff d = compare_with_reference(e, c);
        std::printf("  deepseek2/%s: max %.3g (%s), mean %.3g\n", c["name"].get<std::string>().c_str(), d.max_abs,
                    d.worst.c_str(), d.mean_abs);
        EXPECT_LE(d.max_abs, k_max_abs) << c["name"] << " worst at " << d.worst;
        EXPECT_EQ(d.argmax_differences, 0) << c["name"];
    }
}

TEST(deepseek2, geometry_from_metadata) {
    engine                e  = open_arch(k_model);
    const model_hparams & hp = e.hparams();
    EXPECT_EQ(hp.arch, "deepseek2");
    EXPECT_EQ(hp.n_layer_dense_lead, 1);
    EXPECT_EQ(hp.kv_lora_rank, 32);
    EXPECT_EQ(hp.q_lora_rank, 32);
    EXPECT_EQ(hp.n_expert_group, 4);
    EXPECT_FLOAT_EQ(hp.expert_weights_scale, 2.5f);
    EXPECT_FALSE(e.net().experts().has_experts(0));
    EXPECT_TRUE(e.net().experts().has_experts(1));
    const auto routers = e.net().routers();
    ASSERT_EQ(routers.size(), 3u);
    EXPECT_FALSE(routers[0].routed());
    EXPECT_TRUE(routers[1].routed() && routers[1].scoring == router_scoring::SIGMOID &&
                routers[1].selection_bias != nullptr);
    EXPECT_EQ(routers[1].n_group, 4);
    EXPECT_FLOAT_EQ(routers[1].scale, 2.5f);
}

TEST(deepseek2, decode_equals_prefill) {
    engine               e   = open_arch(k_model);
    const nlohmann::json g   = read_json(data_path("archs/tiny-deepseek2-f32.json"));
    const auto           ids = g["cases"][1]["ids"].get<std::vector<int32_t>>();
    for (ggml_type kv : {ggml_type::F32, ggml_type::F16}) {
        EXPECT_LE(decode_vs_prefill(e, ids, kv), 1e-5) << type_name(kv);
    }
}

TEST(deepseek2, latent_cache_holds_one_row_per_position) {
    // kv_lora + rope = 48 floats per position and block, not 2 x heads x (nope+rope | v).
    engine          e = open_arch(k_model);
    session_options so;
    so.n_ctx      = 10;
    so.kv_type    = ggml_type::F32;
    const auto st = e.net().new_state(so.n_ctx, so.kv_type);
    EXPECT_EQ(st->kv.row_len(), 48);
    EXPECT_EQ(st->kv.bytes(), 3u * 10u * 48u * 4u);
}

TEST(deepseek2, missing_tensor_or_key_is_named) {
    for (const char * t : {"blk.1.attn_kv_a_mqa.weight", "blk.0.ffn_up.weight", "blk.2.attn_k_b.weight",
                           "blk.1.ffn_gate_shexp.weight", "blk.2.ffn_down_exps.weight"}) {
        const std::string msg = error_without(k_model, "", t);
        EXPECT_NE(msg.find(t), std::string::npos) << msg;
        EXPECT_NE(msg.find("sluice-archb"), std::string::npos) << msg;  // the file
    }
    for (const char * k : {"deepseek2.attention.kv_lora_rank", "deepseek2.expert_feed_forward_length",
                           "deepseek2.feed_forward_length", "deepseek2.expert_count"}) {
        const std::string msg = error_without(k_model, k, "");
        EXPECT_NE(msg.find(k), std::string::npos) << msg;
    }
}

}  // namespace
}  // namespace sluice::test
