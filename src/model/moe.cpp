#include "model/moe.h"

#include "model/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sluice {

namespace {

// g <- act(g + gate bias, u + up bias) for `rows` rows of ff values, all of expert e.
void activate(float * g, float * u, int64_t rows, int64_t ff, int32_t e, const moe_options & opt) {
    if (opt.gate_exps_bias != nullptr) {
        add_bias(g, {opt.gate_exps_bias + e * ff, static_cast<size_t>(ff)}, rows);
    }
    if (opt.up_exps_bias != nullptr) {
        add_bias(u, {opt.up_exps_bias + e * ff, static_cast<size_t>(ff)}, rows);
    }
    if (opt.swiglu_limit > 0.0f) {
        swiglu_clamped(g, u, rows * ff, opt.swiglu_alpha, opt.swiglu_limit);
    } else {
        swiglu(g, u, rows * ff);
    }
}

// Keeps a row's choice at `layer` in the record, replacing the previous row's.
void record_routing(routed_token & rec, int layer, std::span<const int32_t> ids, std::span<const float> w) {
    auto it = std::find_if(rec.layers.begin(), rec.layers.end(),
                           [&](const routed_token::layer_choice & c) { return c.layer == layer; });
    if (it == rec.layers.end()) {
        rec.layers.push_back({layer, {}, {}});
        it = rec.layers.end() - 1;
    }
    it->experts.assign(ids.begin(), ids.end());
    it->weights.assign(w.begin(), w.end());
}

void add_down_bias(float * y, int64_t rows, int64_t d, int32_t e, const moe_options & opt) {
    if (opt.down_exps_bias != nullptr) {
        add_bias(y, {opt.down_exps_bias + e * d, static_cast<size_t>(d)}, rows);
    }
}

// One token: the gate and up products of every chosen expert in one pass over the thread
// pool, then every down product in a second, instead of three passes per expert. The
// per-row arithmetic is the kernels' own, so the result equals the batched path's.
void decode_experts(const float * h, std::span<const expert_matrices> mats,
                    const std::vector<std::vector<float>> & weight_of, std::span<const int32_t> used,
                    const moe_options & opt, matmul_runner & mm, double * acc, int layer, int64_t position,
                    forward_observer * observer) {
    const size_t            n_used = used.size();
    const int64_t           ff     = mats.empty() ? 0 : mats[0].gate.rows;
    const int64_t           d      = mats.empty() ? 0 : mats[0].down.rows;
    std::vector<float>      g(n_used * ff), u(n_used * ff), y(n_used * d);
    std::vector<matvec_job> jobs;
    for (size_t i = 0; i < n_used; ++i) {
        jobs.push_back({&mats[i].gate, h, g.data() + i * ff});
        jobs.push_back({&mats[i].up, h, u.data() + i * ff});
    }
    mm.matvec_many(jobs);
    for (size_t i = 0; i < n_used; ++i) {
        activate(g.data() + i * ff, u.data() + i * ff, 1, ff, used[i], opt);
    }
    jobs.clear();
    for (size_t i = 0; i < n_used; ++i) {
        jobs.push_back({&mats[i].down, g.data() + i * ff, y.data() + i * d});
    }
    mm.matvec_many(jobs);
    for (size_t i = 0; i < n_used; ++i) {
        add_down_bias(y.data() + i * d, 1, d, used[i], opt);
        const float w = weight_of[used[i]][0];
        if (observer != nullptr) {
            observer->on_expert_output(layer, used[i], {&position, 1}, {&w, 1}, y.data() + i * d, d);
        }
        for (int64_t c = 0; c < d; ++c) {
            acc[c] += static_cast<double>(w) * y[i * d + c];
        }
    }
}

// Prefill and batched decode: each used expert multiplies the rows of the tokens that chose it
// (a matrix x matrix product), and its weighted rows are added into acc: [n][d].
void routed_rows(const float * h, int64_t d, int layer, std::span<const int32_t> used,
                 const std::vector<std::vector<int64_t>> & tokens_of, const std::vector<std::vector<float>> & weight_of,
                 const moe_options & opt, const forward_context & ctx, double * acc,
                 std::span<const int64_t> positions) {
    // Each expert's rows are computed independently and summed in expert order, so the
    // groups the source yields change nothing in the result.
    std::vector<float>   x, g, u, y;
    std::vector<int64_t> pos;
    ctx.experts.for_each_expert(layer, used, [&](size_t first, std::span<const expert_matrices> mats) {
        for (size_t j = 0; j < mats.size(); ++j) {
            const int32_t                e  = used[first + j];
            const expert_matrices &      m  = mats[j];
            const std::vector<int64_t> & ts = tokens_of[e];
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
            activate(g.data(), u.data(), nt, ff, e, opt);
            ctx.mm.matmul(m.down, g.data(), nt, y.data());
            add_down_bias(y.data(), nt, d, e, opt);
            if (ctx.observer != nullptr) {
                pos.resize(nt);
                for (int64_t r = 0; r < nt; ++r) {
                    pos[r] = positions[ts[r]];
                }
                ctx.observer->on_expert_output(layer, e, pos, weight_of[e], y.data(), d);
            }
            for (int64_t r = 0; r < nt; ++r) {
                const float   w   = weight_of[e][r];
                double *      o   = acc + ts[r] * d;
                const float * src = y.data() + r * d;
                for (int64_t c = 0; c < d; ++c) {
                    o[c] += static_cast<double>(w) * src[c];
                }
            }
        }
    });
}

}  // namespace

void moe_block(const float * h, int64_t n, int layer, const router & r, const moe_options & opt,
               const forward_context & ctx, float * out, std::span<const int64_t> positions) {
    const int64_t d = r.weight.cols;
    const int     E = r.n_expert, k = r.k;

    std::vector<float> logits(static_cast<size_t>(n) * E), probs(E);
    route_scratch      scratch;
    r.logits(h, n, ctx.mm, logits.data());

    // Room per token for the most experts the controls of any row allow; with
    // --moe-prefer-cached, which experts cost no read (asked of the source once per layer).
    int                  slots = k;
    std::vector<uint8_t> resident;
    for (const row_routing & rr : ctx.routing) {
        if (rr.controls == nullptr) {
            continue;
        }
        slots = std::max(slots, rr.controls->max_experts(E, k));
        if (rr.controls->prefer_cached > 0.0f && resident.empty()) {
            resident.resize(E);
            ctx.experts.resident(layer, resident);
        }
    }
    std::vector<int32_t> ids(static_cast<size_t>(n) * slots);
    std::vector<float>   weights(static_cast<size_t>(n) * slots);
    std::vector<int>     count(n);
    for (int64_t t = 0; t < n; ++t) {
        const row_routing * rr = ctx.routing_of(t);
        int32_t *           id = ids.data() + t * slots;
        float *             w  = weights.data() + t * slots;
        count[t] = r.route(logits.data() + t * E, probs.data(), scratch, id, w, rr != nullptr ? rr->controls : nullptr,
                           layer, resident.empty() ? nullptr : resident.data());
        const std::span<const int32_t> chosen(id, count[t]);
        const std::span<const float>   chosen_w(w, count[t]);
        if (ctx.observer != nullptr) {
            ctx.observer->on_routing(layer, positions[t], chosen, chosen_w, probs);
        }
        if (rr != nullptr && rr->tally != nullptr) {
            rr->tally->add(layer, count[t]);
        }
        if (rr != nullptr && rr->record != nullptr) {
            record_routing(*rr->record, layer, chosen, chosen_w);
        }
    }

    // Which tokens each expert serves, in token order; experts in id order.
    std::vector<std::vector<int64_t>> tokens_of(E);
    std::vector<std::vector<float>>   weight_of(E);
    for (int64_t t = 0; t < n; ++t) {
        for (int j = 0; j < count[t]; ++j) {
            tokens_of[ids[t * slots + j]].push_back(t);
            weight_of[ids[t * slots + j]].push_back(weights[t * slots + j]);
        }
    }
    // With expert parallelism, only the experts this process owns; the others' outputs
    // arrive through combine() below.
    std::vector<int32_t> used;
    for (int e = 0; e < E; ++e) {
        if (!tokens_of[e].empty() && (ctx.parallel == nullptr || ctx.parallel->owns(layer, e))) {
            used.push_back(e);
        }
    }
    if (ctx.use != nullptr) {
        ctx.use->add(layer, used.size());
    }
    // The weighted expert outputs are summed in double: a float product w * y is exact there,
    // so the sum hardly depends on its order, and expert parallelism (which adds each rank's
    // experts, then the ranks) gives the bits one process gives, up to a sum that lands
    // within 1e-16 of a float rounding boundary.
    std::vector<double> acc(static_cast<size_t>(n * d), 0.0);
    if (n == 1) {
        const std::span<const int32_t> all(used);
        ctx.experts.for_each_expert(layer, used, [&](size_t first, std::span<const expert_matrices> mats) {
            decode_experts(h, mats, weight_of, all.subspan(first, mats.size()), opt, ctx.mm, acc.data(), layer,
                           positions[0], ctx.observer);
        });
    } else {
        routed_rows(h, d, layer, used, tokens_of, weight_of, opt, ctx, acc.data(), positions);
    }
    if (ctx.parallel != nullptr) {
        ctx.parallel->combine(acc);
    }
    std::copy(acc.begin(), acc.end(), out);
    if (opt.shared != nullptr) {
        add_shared_expert(h, n, *opt.shared, ctx.mm, out);
    }
}

void add_shared_expert(const float * h, int64_t n, const shared_expert & se, matmul_runner & mm, float * out) {
    const int64_t      ff = se.gate.rows, d = se.down.rows;
    std::vector<float> g(n * ff), u(n * ff), y(n * d);
    if (n == 1) {  // one pass over the pool for gate and up
        const matvec_job gu[2] = {{&se.gate, h, g.data()}, {&se.up, h, u.data()}};
        mm.matvec_many(gu);
    } else {
        mm.matmul(se.gate, h, n, g.data());
        mm.matmul(se.up, h, n, u.data());
    }
    swiglu(g.data(), u.data(), n * ff);
    mm.matmul(se.down, g.data(), n, y.data());
    for (int64_t t = 0; t < n; ++t) {
        float s = 1.0f;
        if (se.gate_inp != nullptr) {
            // The same loop for every batch size: decode and prefill stay bit-identical.
            float dot = 0.0f;
            for (int64_t c = 0; c < d; ++c) {
                dot += se.gate_inp[c] * h[t * d + c];
            }
            s = 1.0f / (1.0f + std::exp(-dot));
        }
        for (int64_t c = 0; c < d; ++c) {
            out[t * d + c] += s * y[t * d + c];
        }
    }
}

}  // namespace sluice
