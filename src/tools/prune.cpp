#include "tools/prune.h"

#include "model/tensor_table.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sluice {
namespace {

class contribution_observer final : public forward_observer {
  public:
    explicit contribution_observer(expert_scores & s) : s_(s) {}

    void on_routing(int, int64_t, std::span<const int32_t>, std::span<const float>, std::span<const float>) override {}

    void on_expert_output(int layer, int32_t expert, std::span<const int64_t> positions, std::span<const float> weights,
                          const float * y, int64_t d) override {
        for (size_t r = 0; r < positions.size(); ++r) {
            double sq = 0.0;
            for (int64_t c = 0; c < d; ++c) {
                sq += static_cast<double>(y[r * d + c]) * y[r * d + c];
            }
            s_.score[layer][expert] += std::abs(static_cast<double>(weights[r])) * std::sqrt(sq);
            s_.uses[layer][expert] += 1;
        }
    }

  private:
    expert_scores & s_;
};

// The tensors with one slab per expert as their outermost dimension: by the architecture's
// tensor table, the router (its rows, its bias, DeepSeek's selection bias), the stacked
// experts and their biases.
bool is_per_expert(const std::optional<tensor_role> & role, const gguf_tensor & t, int64_t n_expert) {
    const bool per_expert =
        role == tensor_role::ROUTER || role == tensor_role::EXPERTS || role == tensor_role::EXPERT_BIAS;
    return per_expert && t.n_dims >= 1 && t.ne[t.n_dims - 1] == n_expert;
}

}  // namespace

expert_scores score_experts(engine & e, std::span<const int32_t> tokens, int64_t n_ctx,
                            const std::function<void(int64_t, int64_t)> & on_chunk) {
    const std::span<const router> routers = e.net().routers();
    expert_scores                 s;
    s.score.resize(routers.size());
    s.uses.resize(routers.size());
    for (size_t l = 0; l < routers.size(); ++l) {
        if (routers[l].routed()) {
            s.score[l].assign(routers[l].n_expert, 0.0);
            s.uses[l].assign(routers[l].n_expert, 0);
        }
    }
    contribution_observer obs(s);
    session_options       so;
    so.n_ctx              = n_ctx;
    const int64_t n_chunk = (static_cast<int64_t>(tokens.size()) + n_ctx - 1) / n_ctx;
    for (int64_t c = 0; c < n_chunk; ++c) {
        const auto n = std::min<int64_t>(n_ctx, static_cast<int64_t>(tokens.size()) - c * n_ctx);
        session    sess(e, so);
        sess.eval(tokens.subspan(static_cast<size_t>(c * n_ctx), static_cast<size_t>(n)), &obs);
        s.tokens += n;
        if (on_chunk) {
            on_chunk(c + 1, n_chunk);
        }
    }
    return s;
}

std::vector<std::vector<int32_t>> choose_experts(const expert_scores & s, int keep) {
    std::vector<std::vector<int32_t>> kept(s.score.size());
    for (size_t l = 0; l < s.score.size(); ++l) {
        const std::vector<double> & sc = s.score[l];
        if (sc.empty()) {
            continue;
        }
        std::vector<int32_t> ids(sc.size());
        std::iota(ids.begin(), ids.end(), 0);
        std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return sc[a] > sc[b]; });
        ids.resize(std::min<size_t>(static_cast<size_t>(keep), ids.size()));
        std::sort(ids.begin(), ids.end());
        kept[l] = std::move(ids);
    }
    return kept;
}

std::vector<std::string> write_pruned_model(const gguf_file & in, const model_hparams & hp,
                                            const std::vector<std::vector<int32_t>> & kept, const std::string & path,
                                            uint64_t split_max_bytes) {
    const int64_t n_expert = hp.n_expert;
    int64_t       keep     = -1;
    for (const auto & k : kept) {
        if (!k.empty()) {
            if (keep >= 0 && static_cast<int64_t>(k.size()) != keep) {
                fail("prune: every MoE layer must keep the same number of experts (GGUF has one expert_count)");
            }
            keep = static_cast<int64_t>(k.size());
        }
    }
    if (keep <= 0) {
        fail("prune: {} has no MoE layers", in.path());
    }
    if (keep < hp.n_expert_used) {
        fail("prune: keeping {} experts per layer, fewer than the {} each token uses (--keep >= {})", keep,
             hp.n_expert_used, hp.n_expert_used);
    }
    if (hp.n_expert_group > 1) {
        fail("prune: {} routes within {} expert groups, which a cut of single experts would break", in.path(),
             hp.n_expert_group);
    }
    const std::string arch(in.architecture());
    gguf_writer       w;
    for (const gguf_kv & kv : in.metadata()) {
        if (kv.key == arch + ".expert_count") {
            w.set_u32(std::string(kv.key), static_cast<uint32_t>(keep));
        } else if (kv.key != "sluice.prune.kept_experts" && !is_split_key(kv.key)) {
            w.set_value(std::string(kv.key), kv.value);
        }
    }
    std::vector<int32_t> flat;
    for (const auto & k : kept) {
        flat.insert(flat.end(), k.begin(), k.end());
    }
    w.set_array_i32("sluice.prune.kept_experts", flat);

    std::vector<std::vector<uint8_t>> sliced;  // the new bytes, alive until write()
    sliced.reserve(in.tensors().size());
    const std::vector<std::optional<tensor_role>> roles = tensor_roles(in);
    for (size_t i = 0; i < in.tensors().size(); ++i) {
        const gguf_tensor & t = in.tensors()[i];
        const int           l = tensor_block(t.name);
        if (!is_per_expert(roles[i], t, n_expert) || l < 0 || static_cast<size_t>(l) >= kept.size() ||
            kept[l].empty()) {
            w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
            continue;
        }
        const uint64_t slab = t.nbytes / static_cast<uint64_t>(n_expert);
        auto &         out  = sliced.emplace_back();
        out.reserve(slab * kept[l].size());
        for (int32_t e : kept[l]) {
            const uint8_t * src = static_cast<const uint8_t *>(t.data) + slab * static_cast<uint64_t>(e);
            out.insert(out.end(), src, src + slab);
        }
        std::vector<int64_t> dims(t.ne, t.ne + t.n_dims);
        dims.back() = keep;
        w.add_tensor(std::string(t.name), t.type, dims, out.data(), out.size());
    }
    return w.write_maybe_split(path, split_max_bytes);
}

}  // namespace sluice
