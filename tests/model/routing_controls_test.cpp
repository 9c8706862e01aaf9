// Routing controls on every architecture, each against a model file that means the same thing
// without a control (written here with the GGUF writer from the fixture):
//   --moe-top-k N           == the file with expert_used_count N;
//   --moe-top-p 1           == the file with every expert the groups allow used;
//   --expert-mask of 0 and 1 == the file with experts 0 and 1 cut out (their router rows,
//                              expert slabs, biases; expert_count - 2, and for DeepSeek one
//                              group fewer: 0 and 1 are group 0);
//   --expert-steer           == gpt-oss with the offsets added to its router bias;
//   --moe-skip with a threshold no weight reaches... is exact only at 0 (inactive); a tiny
//                              threshold keeps the file's routing up to the weights below it.
//
// Tolerances. Top-k and top-p run the very code path of the rewritten file: equal bit for bit.
// A masked expert's logit is -inf, so exp() gives 0 and softmax's sum adds exact zeros; the
// cut file computes the same sums in the same order, and the expert outputs are added in the
// same (id) order: equal up to the router matmul, whose rows are independent dot products.
// Steering adds the offset after the bias where the file has them summed first: one rounding
// of a router logit (~1e-7 relative), which moves the logits by far less than the 1e-4 the
// architecture tests use.
#include "engine/engine.h"
#include "golden.h"
#include "util/error.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

namespace sluice::test {
namespace {

const char * const k_models[] = {"tiny-qwen3moe-f32.gguf",       "archs/tiny-llama-f32.gguf",
                                 "archs/tiny-olmoe-f32.gguf",    "archs/tiny-qwen2moe-f32.gguf",
                                 "archs/tiny-gpt-oss-f32.gguf",  "archs/tiny-deepseek2-f32.gguf",
                                 "archs/tiny-qwen3next-f32.gguf"};

const std::vector<int32_t> k_ids = {1, 17, 42, 99, 7, 3, 250, 64, 12, 5};

std::string temp_path(const std::string & tag) {
    return (std::filesystem::temp_directory_path() / fmt::format("sluice-routing-{}-{}.gguf", tag, ::getpid()))
        .string();
}

// A tensor's replacement: new dims and bytes (which the caller keeps alive until write()).
struct replaced {
    std::vector<int64_t> dims;
    const void *         data;
    uint64_t             nbytes;
};
using tensor_edit = std::function<std::optional<replaced>(const gguf_tensor &)>;

// A copy of `src` with some u32 metadata values changed and some tensors replaced.
std::string rewrite(const std::string & src, const std::string & tag, const std::map<std::string, uint32_t> & u32s,
                    const tensor_edit & edit) {
    const gguf_file in = gguf_file::open(src);
    gguf_writer     w;
    for (const gguf_kv & kv : in.metadata()) {
        const auto it = u32s.find(std::string(kv.key));
        if (it != u32s.end()) {
            w.set_u32(std::string(kv.key), it->second);
        } else {
            w.set_value(std::string(kv.key), kv.value);
        }
    }
    for (const gguf_tensor & t : in.tensors()) {
        if (auto r = edit ? edit(t) : std::nullopt) {
            w.add_tensor(std::string(t.name), t.type, r->dims, r->data, r->nbytes);
        } else {
            w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
        }
    }
    const std::string out = temp_path(tag);
    w.write(out);
    return out;
}

engine open(const std::string & path) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = 2;
    return engine(o);
}

std::vector<float> run(engine & e, std::shared_ptr<const routing_controls> controls = nullptr,
                       routing_tally * tally = nullptr) {
    session_options so;
    so.n_ctx   = 32;
    so.kv_type = ggml_type::F32;
    so.routing = std::move(controls);
    session            s(e, so);
    std::vector<float> l = s.eval_all(k_ids);
    if (tally != nullptr) {
        *tally = s.routing_counts();
    }
    return l;
}

double max_diff(const std::vector<float> & a, const std::vector<float> & b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0.0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
    }
    return worst;
}

std::string key(const engine & e, const char * suffix) {
    return e.hparams().arch + "." + suffix;
}

class routing_controls_test : public ::testing::TestWithParam<const char *> {
  protected:
    std::string model = data_path(GetParam());
    void        TearDown() override {
        for (const std::string & p : written) {
                   std::filesystem::remove(p);
        }
    }
    std::vector<std::string> written;
};

TEST_P(routing_controls_test, top_k_equals_the_file_with_that_k) {
    engine    e = open(model);
    const int k = static_cast<int>(e.hparams().n_expert_used);
    for (int n : {1, k + 1}) {
        routing_request req;
        req.top_k = n;
        routing_tally      tally;
        std::vector<float> controlled = run(e, std::make_shared<routing_controls>(e.make_routing(req)), &tally);
        written.push_back(rewrite(model, "topk", {{key(e, "expert_used_count"), static_cast<uint32_t>(n)}}, nullptr));
        engine file = open(written.back());
        EXPECT_EQ(max_diff(controlled, run(file)), 0.0) << "top-k " << n;
        EXPECT_DOUBLE_EQ(e.summarize(tally).experts_per_layer, n);
    }
}

TEST_P(routing_controls_test, top_p_one_equals_every_allowed_expert) {
    engine          e = open(model);
    routing_request req;
    req.top_p                           = 1.0f;
    const std::vector<float> controlled = run(e, std::make_shared<routing_controls>(e.make_routing(req)));
    // With expert groups only n_group_used of n_group groups may be chosen.
    const int64_t n_group = std::max<int64_t>(1, e.hparams().n_expert_group);
    const int64_t used    = n_group > 1 ? e.hparams().n_expert_group_used : 1;
    const auto    all     = static_cast<uint32_t>(e.hparams().n_expert * used / n_group);
    written.push_back(rewrite(model, "topp", {{key(e, "expert_used_count"), all}}, nullptr));
    engine file = open(written.back());
    EXPECT_EQ(max_diff(controlled, run(file)), 0.0);
}

TEST_P(routing_controls_test, mask_equals_the_file_without_those_experts) {
    engine          e        = open(model);
    const auto      n_expert = static_cast<int64_t>(e.hparams().n_expert);
    constexpr int   n_cut    = 2;  // experts 0 and 1: DeepSeek's group 0
    routing_request req;
    req.mask = "*:0-1";
    routing_tally            tally;
    const std::vector<float> masked = run(e, std::make_shared<routing_controls>(e.make_routing(req)), &tally);

    // Every per-expert tensor has the expert as its last (outermost) dimension: dropping the
    // first n_cut experts drops the first n_cut / n_expert of its bytes.
    const tensor_edit cut = [&](const gguf_tensor & t) -> std::optional<replaced> {
        const std::string_view name(t.name);
        const bool             per_expert = name.find("_exps") != std::string_view::npos ||
                                name.find("ffn_gate_inp.") != std::string_view::npos ||
                                name.find("exp_probs_b") != std::string_view::npos;
        if (!per_expert || t.ne[t.n_dims - 1] != n_expert) {
            return std::nullopt;
        }
        std::vector<int64_t> dims(t.ne, t.ne + t.n_dims);
        dims.back()         = n_expert - n_cut;
        const uint64_t skip = t.nbytes / n_expert * n_cut;
        return replaced{dims, static_cast<const uint8_t *>(t.data) + skip, t.nbytes - skip};
    };
    std::map<std::string, uint32_t> u32s = {{key(e, "expert_count"), static_cast<uint32_t>(n_expert - n_cut)}};
    if (e.hparams().n_expert_group > 1) {
        u32s[key(e, "expert_group_count")] = static_cast<uint32_t>(e.hparams().n_expert_group - 1);
    }
    written.push_back(rewrite(model, "mask", u32s, cut));
    engine cut_file = open(written.back());
    EXPECT_LE(max_diff(masked, run(cut_file)), 1e-5);
    EXPECT_DOUBLE_EQ(e.summarize(tally).experts_per_layer, static_cast<double>(e.hparams().n_expert_used));
    // And masking changed something: the cut experts were in use.
    EXPECT_GT(max_diff(masked, run(e)), 1e-3);
}

TEST_P(routing_controls_test, skip_keeps_only_weights_above_the_threshold) {
    engine          e = open(model);
    routing_request req;
    req.skip = 1e-30f;  // no routing weight of these models is that small: nothing skipped
    EXPECT_EQ(max_diff(run(e, std::make_shared<routing_controls>(e.make_routing(req))), run(e)), 0.0);
    req.skip = 100.0f;  // every weight is below: each token keeps its best expert only
    routing_tally tally;
    run(e, std::make_shared<routing_controls>(e.make_routing(req)), &tally);
    EXPECT_DOUBLE_EQ(e.summarize(tally).experts_per_layer, 1.0);
}

TEST_P(routing_controls_test, bad_controls_name_the_value) {
    engine     e            = open(model);
    const auto expect_error = [&](routing_request req, const std::string & part) {
        try {
            e.make_routing(req);
            ADD_FAILURE() << "no error for " << part;
        } catch (const error & err) {
            EXPECT_NE(std::string(err.what()).find(part), std::string::npos) << err.what();
        }
    };
    routing_request r;
    r.top_k = 99;
    expect_error(r, "--moe-top-k 99");
    r       = {};
    r.top_p = 1.5f;
    expect_error(r, "--moe-top-p 1.5");
    r      = {};
    r.mask = "0-99:1";
    expect_error(r, "layer 0-99");
    r      = {};
    r.mask = "*:0-7";
    expect_error(r, "without experts");
    r      = {};
    r.mask = "1:x";
    expect_error(r, "'x'");
    r       = {};
    r.force = "*:0,*:1,*:2";
    expect_error(r, "more than");
}

INSTANTIATE_TEST_SUITE_P(archs, routing_controls_test, ::testing::ValuesIn(k_models),
                         [](const ::testing::TestParamInfo<const char *> & i) {
                             std::string n = std::filesystem::path(i.param).stem().string();
                             for (char & c : n) {
                                 c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                             }
                             return n;
                         });

// gpt-oss has a router bias: steering by an offset is the file with the offset in the bias.
TEST(routing_steer, offsets_equal_a_shifted_router_bias) {
    const std::string model = data_path("archs/tiny-gpt-oss-f32.gguf");
    engine            e     = open(model);
    routing_request   req;
    req.steer_offsets                = {{0, 3, 2.5f}, {1, 5, -4.0f}, {2, 0, 1.25f}};
    const std::vector<float> steered = run(e, std::make_shared<routing_controls>(e.make_routing(req)));

    std::vector<std::vector<float>> biases;
    biases.reserve(8);
    const tensor_edit shift = [&](const gguf_tensor & t) -> std::optional<replaced> {
        const std::string_view name(t.name);
        if (name.find("ffn_gate_inp.bias") == std::string_view::npos) {
            return std::nullopt;
        }
        const int    layer = std::stoi(std::string(name.substr(4)));  // "blk.N."
        const auto * b     = reinterpret_cast<const float *>(t.data);
        biases.emplace_back(b, b + t.ne[0]);
        for (const expert_ref & r : req.steer_offsets) {
            if (r.layer == layer) {
                biases.back()[r.expert] += r.weight;
            }
        }
        return replaced{{t.ne[0]}, biases.back().data(), t.nbytes};
    };
    const std::string path = rewrite(model, "steer", {}, shift);
    engine            file = open(path);
    EXPECT_LE(max_diff(steered, run(file)), 1e-4);
    EXPECT_GT(max_diff(steered, run(e)), 1e-3);  // the offsets changed the routing
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace sluice::test
