// The committed fixtures (tests/data): tiny-qwen3moe-f16.gguf as llama.cpp's converter wrote
// it, and quant-blocks.gguf with one tensor per quant type.
#include "gguf_test_util.h"

#include <algorithm>

namespace sluice {
namespace {

const std::string k_data = SLUICE_TEST_DATA;

TEST(gguf_fixtures, tiny_qwen3moe_f16) {
    const gguf_file f = gguf_file::open(k_data + "/tiny-qwen3moe-f16.gguf");
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.architecture(), "qwen3moe");
    EXPECT_EQ(f.require_string("general.name"), "tiny-qwen3moe-f16");
    EXPECT_EQ(f.require_u32("qwen3moe.block_count"), 3u);
    EXPECT_EQ(*f.get_u32("qwen3moe.embedding_length"), 256u);
    EXPECT_EQ(*f.get_u32("qwen3moe.expert_count"), 8u);
    EXPECT_EQ(*f.get_u32("qwen3moe.expert_used_count"), 2u);
    EXPECT_EQ(*f.get_f32("qwen3moe.rope.freq_base"), 10000.0f);
    EXPECT_NEAR(*f.get_f64("qwen3moe.attention.layer_norm_rms_epsilon"), 1e-6, 1e-12);
    EXPECT_TRUE(*f.get_bool("tokenizer.ggml.add_bos_token"));
    EXPECT_FALSE(*f.get_bool("tokenizer.ggml.add_eos_token"));
    EXPECT_EQ(f.metadata().size(), 29u);

    const gguf_value * tokens = f.get_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->elem_type, gguf_value_type::STRING);
    ASSERT_EQ(tokens->strings.size(), 4096u);
    EXPECT_EQ(tokens->strings[0], "<unk>");
    EXPECT_EQ(tokens->strings[1], "<s>");
    EXPECT_EQ(tokens->strings[13], "<0x0A>");
    const gguf_value * scores = f.get_array("tokenizer.ggml.scores");
    EXPECT_EQ(scores->elem_type, gguf_value_type::FLOAT32);
    EXPECT_EQ(scores->count, 4096u);
    const gguf_value * types = f.get_array("tokenizer.ggml.token_type");
    EXPECT_EQ(types->elem_type, gguf_value_type::INT32);
    EXPECT_EQ(types->array_i64(0), 2);
    EXPECT_EQ(types->array_i64(1), 3);

    ASSERT_EQ(f.tensors().size(), 39u);
    const gguf_tensor & gate = f.require_tensor("blk.0.ffn_gate_exps.weight");
    EXPECT_EQ(gate.type, ggml_type::F16);
    EXPECT_EQ(gate.n_dims, 3);
    EXPECT_EQ(gate.ne[0], 256);
    EXPECT_EQ(gate.ne[1], 256);
    EXPECT_EQ(gate.ne[2], 8);
    EXPECT_EQ(gate.nbytes, 256u * 256 * 8 * 2);
    EXPECT_EQ(gate.n_rows(), 256 * 8);
    const gguf_tensor & embd = f.require_tensor("token_embd.weight");
    EXPECT_EQ(embd.ne[0], 256);
    EXPECT_EQ(embd.ne[1], 4096);
    EXPECT_EQ(embd.offset, 0u);
    EXPECT_EQ(embd.data, f.bytes().data() + f.data_offset());
    EXPECT_EQ(f.require_tensor("output_norm.weight").type, ggml_type::F32);
    uint64_t end = 0;
    for (const gguf_tensor & t : f.tensors()) {
        end = std::max(end, f.data_offset() + t.offset + t.nbytes);
    }
    EXPECT_EQ(end, f.file_size());

    // Re-writing every key and tensor reproduces the file byte for byte (same layout rules).
    gguf_writer w;
    for (const gguf_kv & kv : f.metadata()) {
        w.set_value(std::string(kv.key), kv.value);
    }
    for (const gguf_tensor & t : f.tensors()) {
        w.add_tensor(std::string(t.name), t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.data, t.nbytes);
    }
    const std::vector<uint8_t> again = w.to_bytes();
    ASSERT_EQ(again.size(), f.file_size());
    EXPECT_TRUE(std::equal(again.begin(), again.end(), f.bytes().begin()));
}

TEST(gguf_fixtures, quant_blocks) {
    const gguf_file f = gguf_file::open(k_data + "/quant-blocks.gguf");
    EXPECT_EQ(f.architecture(), "sluice-quant-fixture");
    EXPECT_EQ(f.tensors().size(), 27u);
    const gguf_tensor & src = f.require_tensor("source");
    EXPECT_EQ(src.type, ggml_type::F32);
    EXPECT_EQ(src.n_dims, 2);
    EXPECT_EQ(src.ne[0], 512);
    EXPECT_EQ(src.ne[1], 8);
    EXPECT_EQ(src.nbytes, 512u * 8 * 4);
    const struct {
        const char * name;
        ggml_type    type;
    } quants[] = {{"f16.q", ggml_type::F16},    {"bf16.q", ggml_type::BF16}, {"q4_0.q", ggml_type::Q4_0},
                  {"q4_1.q", ggml_type::Q4_1},  {"q5_0.q", ggml_type::Q5_0}, {"q5_1.q", ggml_type::Q5_1},
                  {"q8_0.q", ggml_type::Q8_0},  {"q2_k.q", ggml_type::Q2_K}, {"q3_k.q", ggml_type::Q3_K},
                  {"q4_k.q", ggml_type::Q4_K},  {"q5_k.q", ggml_type::Q5_K}, {"q6_k.q", ggml_type::Q6_K},
                  {"mxfp4.q", ggml_type::MXFP4}};
    for (const auto & q : quants) {
        const gguf_tensor * t = f.find_tensor(q.name);
        ASSERT_NE(t, nullptr) << q.name;
        EXPECT_EQ(t->type, q.type) << q.name;
        EXPECT_EQ(t->ne[0], 512) << q.name;
        EXPECT_EQ(t->ne[1], 8) << q.name;
        EXPECT_EQ(t->nbytes, row_bytes(q.type, 512) * 8) << q.name;
        const std::string deq = std::string(q.name).replace(std::string(q.name).size() - 1, 1, "f32");
        EXPECT_EQ(f.require_tensor(deq).type, ggml_type::F32) << deq;
    }
}

}  // namespace
}  // namespace sluice
