#include "model/moe.h"

#include "model/layers.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace sluice {

namespace {

// g <- act(g + gate bias, u + up bias) for `rows` rows of ff values, all of expert e.
void activate(float * g, float * u, int64_t rows, int64_t ff, int32_t e, const moe_options & opt, isa i) {
    if (opt.gate_exps_bias != nullptr) {
        add_bias(g, {opt.gate_exps_bias + e * ff, static_cast<size_t>(ff)}, rows);
    }
    if (opt.up_exps_bias != nullptr) {
        add_bias(u, {opt.up_exps_bias + e * ff, static_cast<size_t>(ff)}, rows);
    }
    if (opt.swiglu_limit > 0.0f) {
        swiglu_clamped(g, u, rows * ff, opt.swiglu_alpha, opt.swiglu_limit);
    } else {
        swiglu(g, u, rows * ff, i);
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

// At most this many token rows go through one pair of passes: the gate and up outputs of a
// long prompt's n x k rows (2 x n x k x ff floats) are never held at once; a decode step
// never reaches it.
constexpr size_t k_max_rows_per_pass = 512;

// Each used expert multiplies the rows of the tokens that chose it (picked out of h, each row
// quantized once for all experts), and every token's output is the weighted sum of its
// experts' rows, in `used` order: sum[t] = 0 + w_a y_a + w_b y_b + ... in double. For a run of
// experts the source yields, every gate and up product runs in one pass over the thread pool
// and every down product in a second (two wake-ups per run, not three per expert: a decode
// step of a few sequences touches ~10 experts per layer with 1-4 tokens each). The source
// picks the order it yields experts in (a streamed cache's held experts first); each expert's
// down rows have their own place in ws.y ([rows of all used experts][d], in `used` order), so
// neither the order, the grouping nor the batch change the result. The sums run once all are
// in, token by token over the pool: a token's row of d doubles stays in L1 while its experts
// are added (summing expert by expert into an [n][d] array instead read and wrote it k times
// from memory). Each sum goes to acc ([n][d], for expert parallelism to combine) when acc is
// given, else straight to out as floats.
void routed_rows(const float * h, int64_t n, int64_t d, int layer, std::span<const int32_t> used,
                 const std::vector<std::vector<int64_t>> & tokens_of, const std::vector<std::vector<float>> & weight_of,
                 const moe_options & opt, const forward_context & ctx, forward_workspace & ws, double * acc,
                 float * out, std::span<const int64_t> positions) {
    std::vector<int64_t> first(used.size() + 1, 0);  // expert used[i]'s first row in ws.y
    for (size_t i = 0; i < used.size(); ++i) {
        first[i + 1] = first[i] + static_cast<int64_t>(tokens_of[used[i]].size());
    }
    float * const y = grown(ws.y, static_cast<size_t>(first.back() * d));

    std::vector<int64_t>    row0;  // per expert of a run: its first row in g and u
    std::vector<matmul_job> jobs;
    size_t                  yielded = 0;
    // Experts used[which[j]], with matrices mats[j].
    const auto run = [&](std::span<const size_t> which, std::span<const expert_matrices> mats) {
        const int64_t ff = mats[0].gate.rows;
        row0.assign(1, 0);
        for (size_t j = 0; j < mats.size(); ++j) {
            row0.push_back(row0.back() + static_cast<int64_t>(tokens_of[used[which[j]]].size()));
        }
        const int64_t rows = row0.back();
        float *       g    = grown(ws.g, static_cast<size_t>(rows * ff));
        float *       u    = grown(ws.u, static_cast<size_t>(rows * ff));
        jobs.clear();
        for (size_t j = 0; j < mats.size(); ++j) {
            const std::vector<int64_t> & ts = tokens_of[used[which[j]]];
            const auto                   nt = static_cast<int64_t>(ts.size());
            jobs.push_back({&mats[j].gate, h, nt, g + row0[j] * ff, ts.data()});
            jobs.push_back({&mats[j].up, h, nt, u + row0[j] * ff, ts.data()});
        }
        ctx.mm.matmul_many(jobs);
        // The activation, row by row (so any split of the rows gives the same bits), on the pool.
        parallel_ranges(ctx.mm.pool(), rows, 16, [&](int64_t a, int64_t b) {
            auto j = static_cast<size_t>(std::upper_bound(row0.begin(), row0.end(), a) - row0.begin()) - 1;
            for (; j < mats.size() && row0[j] < b; ++j) {
                const int64_t r0 = std::max(a, row0[j]), r1 = std::min(b, row0[j + 1]);
                if (r1 > r0) {
                    activate(g + r0 * ff, u + r0 * ff, r1 - r0, ff, used[which[j]], opt, ctx.mm.target());
                }
            }
        });
        jobs.clear();
        for (size_t j = 0; j < mats.size(); ++j) {
            const auto nt = row0[j + 1] - row0[j];
            jobs.push_back({&mats[j].down, g + row0[j] * ff, nt, y + first[which[j]] * d});
        }
        ctx.mm.matmul_many(jobs);
        yielded += mats.size();
    };
    ctx.experts.for_each_expert(layer, used, [&](std::span<const size_t> which, std::span<const expert_matrices> mats) {
        size_t j0 = 0, rows = 0;
        for (size_t j = 0; j < mats.size(); ++j) {
            const size_t nt = tokens_of[used[which[j]]].size();
            if (j > j0 && rows + nt > k_max_rows_per_pass) {
                run(which.subspan(j0, j - j0), mats.subspan(j0, j - j0));
                j0   = j;
                rows = 0;
            }
            rows += nt;
        }
        if (j0 < mats.size()) {
            run(which.subspan(j0), mats.subspan(j0));
        }
    });
    if (yielded != used.size()) {
        fail("layer {}: the expert source yielded {} of {} experts", layer, yielded, used.size());
    }

    std::vector<int64_t> pos;
    for (size_t i = 0; i < used.size(); ++i) {
        const int32_t                e  = used[i];
        const std::vector<int64_t> & ts = tokens_of[e];
        const auto                   nt = static_cast<int64_t>(ts.size());
        float *                      ye = y + first[i] * d;
        add_down_bias(ye, nt, d, e, opt);
        if (ctx.observer != nullptr) {
            pos.resize(nt);
            for (int64_t r = 0; r < nt; ++r) {
                pos[r] = positions[ts[r]];
            }
            ctx.observer->on_expert_output(layer, e, pos, weight_of[e], ye, d);
        }
    }
    // Each token's rows in ws.y with their weights, in `used` order: [at[t], at[t + 1]).
    std::vector<int64_t> at(n + 1, 0), row(first.back());
    std::vector<float>   w(first.back());
    for (size_t i = 0; i < used.size(); ++i) {
        for (const int64_t t : tokens_of[used[i]]) {
            ++at[t + 1];
        }
    }
    for (int64_t t = 0; t < n; ++t) {
        at[t + 1] += at[t];
    }
    std::vector<int64_t> fill(at.begin(), at.end() - 1);
    for (size_t i = 0; i < used.size(); ++i) {
        const std::vector<int64_t> & ts = tokens_of[used[i]];
        for (size_t r = 0; r < ts.size(); ++r) {
            const int64_t k = fill[ts[r]]++;
            row[k]          = first[i] + static_cast<int64_t>(r);
            w[k]            = weight_of[used[i]][r];
        }
    }
    parallel_ranges(ctx.mm.pool(), n, 8, [&](int64_t t0, int64_t t1) {
        std::vector<double> own(acc == nullptr ? d : 0);
        for (int64_t t = t0; t < t1; ++t) {
            double * sum = acc != nullptr ? acc + t * d : own.data();
            std::fill(sum, sum + d, 0.0);
            for (int64_t k = at[t]; k < at[t + 1]; ++k) {
                const double  wk = w[k];
                const float * yk = y + row[k] * d;
                for (int64_t c = 0; c < d; ++c) {
                    sum[c] += wk * yk[c];
                }
            }
            if (acc == nullptr) {
                std::copy(sum, sum + d, out + t * d);
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
    forward_workspace   local;
    forward_workspace & ws = ctx.work != nullptr ? *ctx.work : local;
    if (ctx.parallel == nullptr) {
        routed_rows(h, n, d, layer, used, tokens_of, weight_of, opt, ctx, ws, nullptr, out, positions);
    } else {
        std::vector<double> & acc = ws.acc;
        acc.resize(static_cast<size_t>(n * d));
        routed_rows(h, n, d, layer, used, tokens_of, weight_of, opt, ctx, ws, acc.data(), out, positions);
        ctx.parallel->combine(acc);
        std::copy(acc.begin(), acc.end(), out);
    }
    if (opt.shared != nullptr) {
        add_shared_expert(h, n, *opt.shared, ctx.mm, out);
    }
}

void add_shared_expert(const float * h, int64_t n, const shared_expert & se, matmul_runner & mm, float * out) {
    const int64_t      ff = se.gate.rows, d = se.down.rows;
    std::vector<float> g(n * ff), u(n * ff), y(n * d);
    const matmul_job   gu[2] = {{&se.gate, h, n, g.data()}, {&se.up, h, n, u.data()}};  // one pass over the pool
    mm.matmul_many(gu);
    swiglu(g.data(), u.data(), n * ff, mm.target());
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
