#include "model/moe.h"

#include "experts/routing.h"
#include "model/layers.h"

#include <algorithm>
#include <vector>

namespace sluice {

namespace {

// One token: the gate and up products of every chosen expert in one pass over the thread
// pool, then every down product in a second, instead of three passes per expert. The
// per-row arithmetic is the kernels' own, so the result equals the batched path's.
void decode_experts(const float * h, const std::vector<expert_matrices> & mats,
                    const std::vector<std::vector<float>> & weight_of, const std::vector<int32_t> & used,
                    matmul_runner & mm, float * out) {
    const size_t  n_used = used.size();
    const int64_t ff     = mats.empty() ? 0 : mats[0].gate.rows;
    const int64_t d      = mats.empty() ? 0 : mats[0].down.rows;
    std::vector<float>      g(n_used * ff), u(n_used * ff), y(n_used * d);
    std::vector<matvec_job> jobs;
    for (size_t i = 0; i < n_used; ++i) {
        jobs.push_back({&mats[i].gate, h, g.data() + i * ff});
        jobs.push_back({&mats[i].up, h, u.data() + i * ff});
    }
    mm.matvec_many(jobs);
    swiglu(g.data(), u.data(), static_cast<int64_t>(n_used) * ff);
    jobs.clear();
    for (size_t i = 0; i < n_used; ++i) {
        jobs.push_back({&mats[i].down, g.data() + i * ff, y.data() + i * d});
    }
    mm.matvec_many(jobs);
    for (size_t i = 0; i < n_used; ++i) {
        const float w = weight_of[used[i]][0];
        for (int64_t c = 0; c < d; ++c) {
            out[c] += w * y[i * d + c];
        }
    }
}

}  // namespace

void moe_block(const float * h, int64_t n, int64_t pos0, int layer, const weight_matrix & router, const moe_options & opt,
               const forward_context & ctx, float * out, const int64_t * positions) {
    const int64_t d = router.cols;
    const int     E = opt.n_expert, k = opt.n_expert_used;

    std::vector<float> logits(static_cast<size_t>(n) * E), probs(E);
    ctx.mm.matmul(router, h, n, logits.data());

    std::vector<int32_t> ids(static_cast<size_t>(n) * k);
    std::vector<float>   weights(static_cast<size_t>(n) * k);
    for (int64_t t = 0; t < n; ++t) {
        route_softmax_top_k(logits.data() + t * E, E, k, opt.normalize, probs.data(), ids.data() + t * k,
                            weights.data() + t * k);
        if (ctx.observer != nullptr) {
            const int64_t pos = positions != nullptr ? positions[t] : pos0 + t;
            ctx.observer->on_routing(layer, pos, {ids.data() + t * k, static_cast<size_t>(k)},
                                     {weights.data() + t * k, static_cast<size_t>(k)}, probs);
        }
    }

    // Which tokens each expert serves, in token order; experts in id order.
    std::vector<std::vector<int64_t>> tokens_of(E);
    std::vector<std::vector<float>>   weight_of(E);
    for (int64_t t = 0; t < n; ++t) {
        for (int j = 0; j < k; ++j) {
            tokens_of[ids[t * k + j]].push_back(t);
            weight_of[ids[t * k + j]].push_back(weights[t * k + j]);
        }
    }
    std::vector<int32_t> used;
    for (int e = 0; e < E; ++e) {
        if (!tokens_of[e].empty()) {
            used.push_back(e);
        }
    }
    std::vector<expert_matrices> mats(used.size());
    ctx.experts.acquire(layer, used, mats);

    std::fill(out, out + n * d, 0.0f);
    if (n == 1) {
        decode_experts(h, mats, weight_of, used, ctx.mm, out);
        return;
    }
    std::vector<float> x, g, u, y;
    for (size_t i = 0; i < used.size(); ++i) {
        const expert_matrices &      m  = mats[i];
        const std::vector<int64_t> & ts = tokens_of[used[i]];
        const auto                   nt = static_cast<int64_t>(ts.size());
        const int64_t                ff = m.gate.rows;
        x.resize(nt * d);
        for (int64_t r = 0; r < nt; ++r) {
            std::copy(h + ts[r] * d, h + (ts[r] + 1) * d, x.data() + r * d);
        }
        g.resize(nt * ff);
        u.resize(nt * ff);
        y.resize(nt * d);
        ctx.mm.matmul(m.gate, x.data(), nt, g.data());
        ctx.mm.matmul(m.up, x.data(), nt, u.data());
        swiglu(g.data(), u.data(), nt * ff);
        ctx.mm.matmul(m.down, g.data(), nt, y.data());
        for (int64_t r = 0; r < nt; ++r) {
            const float   w   = weight_of[used[i]][r];
            float *       o   = out + ts[r] * d;
            const float * src = y.data() + r * d;
            for (int64_t c = 0; c < d; ++c) {
                o[c] += w * src[c];
            }
        }
    }
}

}  // namespace sluice
