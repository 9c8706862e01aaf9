// The type table against ggml's ids and block geometry (ggml.h / ggml-common.h), written out
// again here so that a typo in one place is caught by the other.
#include "tensor/types.h"

#include "tensor/blocks.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace sluice {
namespace {

struct expected_type {
    uint32_t     id;
    const char * name;
    int64_t      block_size;
    int64_t      type_size;
    bool         computable;
};

constexpr expected_type k_expected[] = {
    {0, "f32", 1, 4, true},         {1, "f16", 1, 2, true},         {2, "q4_0", 32, 18, true},
    {3, "q4_1", 32, 20, true},      {6, "q5_0", 32, 22, true},      {7, "q5_1", 32, 24, true},
    {8, "q8_0", 32, 34, true},      {9, "q8_1", 32, 36, false},     {10, "q2_K", 256, 84, true},
    {11, "q3_K", 256, 110, true},   {12, "q4_K", 256, 144, true},   {13, "q5_K", 256, 176, true},
    {14, "q6_K", 256, 210, true},   {15, "q8_K", 256, 292, false},  {16, "iq2_xxs", 256, 66, true},
    {17, "iq2_xs", 256, 74, true},  {18, "iq3_xxs", 256, 98, true}, {19, "iq1_s", 256, 50, true},
    {20, "iq4_nl", 32, 18, true},   {21, "iq3_s", 256, 110, true},  {22, "iq2_s", 256, 82, true},
    {23, "iq4_xs", 256, 136, true}, {24, "i8", 1, 1, false},        {25, "i16", 1, 2, false},
    {26, "i32", 1, 4, false},       {27, "i64", 1, 8, false},       {28, "f64", 1, 8, false},
    {29, "iq1_m", 256, 56, true},   {30, "bf16", 1, 2, true},       {34, "tq1_0", 256, 54, true},
    {35, "tq2_0", 256, 66, true},   {39, "mxfp4", 32, 17, true},
};

const expected_type * expected(uint32_t id) {
    for (const auto & e : k_expected) {
        if (e.id == id) {
            return &e;
        }
    }
    return nullptr;
}

TEST(types, find_type_knows_exactly_the_ggml_ids) {
    for (uint32_t id = 0; id < 256; ++id) {
        const auto            t = find_type(id);
        const expected_type * e = expected(id);
        ASSERT_EQ(t.has_value(), e != nullptr) << "id " << id;
        if (!e) {
            continue;
        }
        EXPECT_EQ(static_cast<uint32_t>(t->type), id);
        EXPECT_EQ(t->name, e->name) << id;
        EXPECT_EQ(t->block_size, e->block_size) << e->name;
        EXPECT_EQ(t->type_size, e->type_size) << e->name;
        EXPECT_EQ(t->computable, e->computable) << e->name;
        EXPECT_EQ(traits(t->type).name, e->name);
        EXPECT_EQ(type_name(t->type), e->name);
    }
    EXPECT_FALSE(find_type(0xffffffffu).has_value());
}

TEST(types, block_structs_match_the_table) {
    EXPECT_EQ(traits(ggml_type::Q4_0).type_size, int64_t(sizeof(block_q4_0)));
    EXPECT_EQ(traits(ggml_type::Q4_1).type_size, int64_t(sizeof(block_q4_1)));
    EXPECT_EQ(traits(ggml_type::Q5_0).type_size, int64_t(sizeof(block_q5_0)));
    EXPECT_EQ(traits(ggml_type::Q5_1).type_size, int64_t(sizeof(block_q5_1)));
    EXPECT_EQ(traits(ggml_type::Q8_0).type_size, int64_t(sizeof(block_q8_0)));
    EXPECT_EQ(traits(ggml_type::Q8_1).type_size, int64_t(sizeof(block_q8_1)));
    EXPECT_EQ(traits(ggml_type::Q2_K).type_size, int64_t(sizeof(block_q2_K)));
    EXPECT_EQ(traits(ggml_type::Q3_K).type_size, int64_t(sizeof(block_q3_K)));
    EXPECT_EQ(traits(ggml_type::Q4_K).type_size, int64_t(sizeof(block_q4_K)));
    EXPECT_EQ(traits(ggml_type::Q5_K).type_size, int64_t(sizeof(block_q5_K)));
    EXPECT_EQ(traits(ggml_type::Q6_K).type_size, int64_t(sizeof(block_q6_K)));
    EXPECT_EQ(traits(ggml_type::Q8_K).type_size, int64_t(sizeof(block_q8_K)));
    EXPECT_EQ(traits(ggml_type::MXFP4).type_size, int64_t(sizeof(block_mxfp4)));
    EXPECT_EQ(traits(ggml_type::Q4_K).block_size, QK_K);
    EXPECT_EQ(traits(ggml_type::MXFP4).block_size, QK_MXFP4);
}

TEST(types, row_bytes) {
    EXPECT_EQ(row_bytes(ggml_type::F32, 7), 28u);
    EXPECT_EQ(row_bytes(ggml_type::BF16, 4096), 8192u);
    EXPECT_EQ(row_bytes(ggml_type::Q8_0, 4096), 128u * 34u);
    EXPECT_EQ(row_bytes(ggml_type::Q4_K, 2048), 8u * 144u);
    EXPECT_EQ(row_bytes(ggml_type::MXFP4, 2880), 90u * 17u);
}

TEST(types, parse_type_name) {
    for (const auto & e : k_expected) {
        const auto t = parse_type_name(e.name);
        ASSERT_TRUE(t.has_value()) << e.name;
        EXPECT_EQ(static_cast<uint32_t>(*t), e.id);
        std::string upper(e.name);
        for (char & c : upper) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        EXPECT_TRUE(parse_type_name(upper) == t) << upper;
    }
    EXPECT_TRUE(parse_type_name("q4_k") == ggml_type::Q4_K);
    EXPECT_TRUE(parse_type_name("Q6_k") == ggml_type::Q6_K);
    EXPECT_FALSE(parse_type_name("").has_value());
    EXPECT_FALSE(parse_type_name("q4").has_value());
    EXPECT_FALSE(parse_type_name("q4_2").has_value());
    EXPECT_FALSE(parse_type_name("q8_0 ").has_value());
    EXPECT_FALSE(parse_type_name("fp16").has_value());
}

}  // namespace
}  // namespace sluice
