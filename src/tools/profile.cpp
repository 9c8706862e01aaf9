#include "tools/profile.h"

#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sluice {
namespace {

// Adds every routing decision of a forward pass to one text's counts.
struct count_observer final : forward_observer {
    explicit count_observer(routing_counts & c) : counts(c) {}

    void on_routing(int layer, int64_t, std::span<const int32_t> experts, std::span<const float> weights,
                    std::span<const float> probs) override {
        std::vector<uint64_t> & chosen = counts.chosen[layer];
        std::vector<double> &   wsum   = counts.weight_sum[layer];
        std::vector<double> &   psum   = counts.prob_sum[layer];
        for (size_t i = 0; i < experts.size(); ++i) {
            chosen[experts[i]] += 1;
            wsum[experts[i]] += i < weights.size() ? weights[i] : 0.0f;
        }
        for (size_t e = 0; e < probs.size() && e < psum.size(); ++e) {
            psum[e] += probs[e];
        }
    }

    routing_counts & counts;
};

double share(uint64_t count, int64_t tokens) {
    return tokens > 0 ? static_cast<double>(count) / static_cast<double>(tokens) : 0.0;
}

}  // namespace

routing_counts count_routing(engine & e, std::span<const int32_t> tokens, const count_options & opt) {
    if (opt.n_ctx < 2) {
        fail("profile: chunks of {} tokens are too short (at least 2)", opt.n_ctx);
    }
    const expert_store & store = e.net().experts();
    routing_counts       c;
    c.chosen.resize(static_cast<size_t>(store.n_layer()));
    c.weight_sum.resize(c.chosen.size());
    c.prob_sum.resize(c.chosen.size());
    bool any = false;
    for (int l = 0; l < store.n_layer(); ++l) {
        if (store.has_experts(l)) {
            any = true;
            c.chosen[l].assign(static_cast<size_t>(store.n_expert()), 0);
            c.weight_sum[l].assign(static_cast<size_t>(store.n_expert()), 0.0);
            c.prob_sum[l].assign(static_cast<size_t>(store.n_expert()), 0.0);
        }
    }
    if (!any) {
        fail("profile: {} has no MoE layers", e.file().path());
    }

    count_observer       observer(c);
    session              s(e, session_options{.n_ctx = opt.n_ctx, .kv_type = ggml_type::F32});
    std::vector<int32_t> chunk;
    for (size_t at = 0; at < tokens.size(); at += static_cast<size_t>(opt.n_ctx)) {
        const size_t n = std::min<size_t>(static_cast<size_t>(opt.n_ctx), tokens.size() - at);
        chunk.assign(tokens.begin() + static_cast<std::ptrdiff_t>(at),
                     tokens.begin() + static_cast<std::ptrdiff_t>(at + n));
        if (opt.first_token >= 0) {
            chunk[0] = opt.first_token;
        }
        s.reset();
        s.eval(chunk, &observer);
        c.tokens += static_cast<int64_t>(n);
        if (opt.on_chunk) {
            opt.on_chunk(c.tokens);
        }
    }
    return c;
}

routing_profile compare_routing(const routing_counts & a, const routing_counts & b, double alpha) {
    if (a.tokens <= 0 || b.tokens <= 0) {
        fail("profile: both texts need tokens (A has {}, B has {})", a.tokens, b.tokens);
    }
    if (a.chosen.size() != b.chosen.size()) {
        fail("profile: A and B were counted on different models ({} and {} layers)", a.chosen.size(), b.chosen.size());
    }
    if (!(alpha > 0.0)) {
        fail("profile: the smoothing alpha must be positive, not {}", alpha);
    }
    routing_profile p;
    p.alpha         = alpha;
    p.n_a           = a.tokens;
    p.n_b           = b.tokens;
    p.n_layer       = static_cast<int>(a.chosen.size());
    const double na = static_cast<double>(a.tokens), nb = static_cast<double>(b.tokens);
    for (size_t l = 0; l < a.chosen.size(); ++l) {
        if (a.chosen[l].size() != b.chosen[l].size()) {
            fail("profile: layer {} has {} experts in A and {} in B", l, a.chosen[l].size(), b.chosen[l].size());
        }
        const auto E = static_cast<int>(a.chosen[l].size());
        p.n_expert   = std::max(p.n_expert, E);
        for (int e = 0; e < E; ++e) {
            expert_stats s;
            s.layer         = static_cast<int>(l);
            s.expert        = e;
            s.count_a       = a.chosen[l][e];
            s.count_b       = b.chosen[l][e];
            s.share_a       = share(s.count_a, a.tokens);
            s.share_b       = share(s.count_b, b.tokens);
            s.mean_weight_a = s.count_a ? a.weight_sum[l][e] / static_cast<double>(s.count_a) : 0.0;
            s.mean_weight_b = s.count_b ? b.weight_sum[l][e] / static_cast<double>(s.count_b) : 0.0;
            s.mean_prob_a   = a.prob_sum[l][e] / na;
            s.mean_prob_b   = b.prob_sum[l][e] / nb;
            s.log_ratio     = std::log((static_cast<double>(s.count_a) + alpha) / (na + alpha * E)) -
                          std::log((static_cast<double>(s.count_b) + alpha) / (nb + alpha * E));
            const double pooled = static_cast<double>(s.count_a + s.count_b) / (na + nb);
            const double se     = std::sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb));
            s.z                 = se > 0.0 ? (s.share_a - s.share_b) / se : 0.0;
            s.p_value           = std::erfc(std::fabs(s.z) / std::sqrt(2.0));
            p.experts.push_back(s);
        }
    }
    p.ranking.resize(p.experts.size());
    for (size_t i = 0; i < p.ranking.size(); ++i) {
        p.ranking[i] = i;
    }
    // Most A-specific first; ties by the stronger evidence, then by layer and expert.
    std::stable_sort(p.ranking.begin(), p.ranking.end(), [&](size_t x, size_t y) {
        const expert_stats & s = p.experts[x];
        const expert_stats & t = p.experts[y];
        if (s.log_ratio != t.log_ratio) {
            return s.log_ratio > t.log_ratio;
        }
        return s.p_value < t.p_value;
    });
    return p;
}

std::string profile_mask(const routing_profile & p, int top) {
    std::string out;
    const auto  n = std::min(p.ranking.size(), static_cast<size_t>(std::max(top, 0)));
    for (size_t i = 0; i < n; ++i) {
        const expert_stats & s = p.experts[p.ranking[i]];
        out += fmt::format("{}{}:{}", i ? "," : "", s.layer, s.expert);
    }
    return out;
}

nlohmann::ordered_json profile_json(const routing_profile & p, const profile_labels & labels) {
    using json = nlohmann::ordered_json;
    json j;
    j["format"]   = "sluice.profile.v1";
    j["model"]    = labels.model;
    j["alpha"]    = p.alpha;
    j["test"]     = profile_test_name;
    j["a"]        = {{"file", labels.file_a}, {"tokens", p.n_a}};
    j["b"]        = {{"file", labels.file_b}, {"tokens", p.n_b}};
    j["n_layer"]  = p.n_layer;
    j["n_expert"] = p.n_expert;
    json layers   = json::array();
    for (const expert_stats & s : p.experts) {
        if (layers.empty() || layers.back()["layer"] != s.layer) {
            layers.push_back({{"layer", s.layer}, {"experts", json::array()}});
        }
        layers.back()["experts"].push_back({{"expert", s.expert},
                                            {"count_a", s.count_a},
                                            {"count_b", s.count_b},
                                            {"share_a", s.share_a},
                                            {"share_b", s.share_b},
                                            {"mean_weight_a", s.mean_weight_a},
                                            {"mean_weight_b", s.mean_weight_b},
                                            {"mean_prob_a", s.mean_prob_a},
                                            {"mean_prob_b", s.mean_prob_b},
                                            {"log_ratio", s.log_ratio},
                                            {"z", s.z},
                                            {"p_value", s.p_value}});
    }
    j["layers"]  = std::move(layers);
    json ranking = json::array();
    for (size_t i : p.ranking) {
        const expert_stats & s = p.experts[i];
        ranking.push_back(
            {{"layer", s.layer}, {"expert", s.expert}, {"log_ratio", s.log_ratio}, {"p_value", s.p_value}});
    }
    j["ranking"] = std::move(ranking);
    j["mask"]    = profile_mask(p, labels.top);
    json steer   = json::array();
    for (size_t i = 0; i < p.ranking.size() && i < static_cast<size_t>(std::max(labels.top, 0)); ++i) {
        const expert_stats & s = p.experts[p.ranking[i]];
        steer.push_back({{"layer", s.layer}, {"expert", s.expert}, {"offset", s.log_ratio}});
    }
    j["steer"] = std::move(steer);
    return j;
}

std::string profile_table(const routing_profile & p, int top) {
    std::string out = fmt::format("{:>4} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>10}\n", "rank", "layer",
                                  "expert", "share_a", "share_b", "weight_a", "weight_b", "log_ratio", "z", "p_value");
    const auto  n   = std::min(p.ranking.size(), static_cast<size_t>(std::max(top, 0)));
    for (size_t i = 0; i < n; ++i) {
        const expert_stats & s = p.experts[p.ranking[i]];
        out += fmt::format("{:>4} {:>5} {:>6} {:>8.4f} {:>8.4f} {:>8.3f} {:>8.3f} {:>9.3f} {:>8.2f} {:>10.3g}\n", i + 1,
                           s.layer, s.expert, s.share_a, s.share_b, s.mean_weight_a, s.mean_weight_b, s.log_ratio, s.z,
                           s.p_value);
    }
    return out;
}

}  // namespace sluice
