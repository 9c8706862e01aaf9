#include "model/moe.h"

#include "model/layers.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// At most this many token rows go through one pair of passes (prefill of a long prompt
// would otherwise gather n x k rows of d floats of input, and 2 x n x k of ff, at once); a
// decode step never reaches it.
constexpr size_t k_max_rows_per_pass = 512;

// Each used expert multiplies the rows of the tokens that chose it, and its weighted rows
// are added into acc: [n][d]. For a run of experts the source yields, every gate and up
// product runs in one pass over the thread pool and every down product in a second (two
// wake-ups per run, not three per expert: a decode step of a few sequences touches ~10
// experts per layer with 1-4 tokens each). The source picks the order it yields experts in;
// outputs are added in `used` order whatever that is, so neither the order, the grouping nor
// the batch change the result. An expert's output is added as soon as those before it in
// `used` are: with experts yielded in order (in RAM) nothing waits and memory holds one run
// (at most k_max_rows_per_pass rows); an expert yielded early (a streamed cache's held
// experts first) waits in ws.parked.
void routed_rows(const float * h, int64_t n, int64_t d, int layer, std::span<const int32_t> used,
                 const std::vector<std::vector<int64_t>> & tokens_of, const std::vector<std::vector<float>> & weight_of,
                 const moe_options & opt, const forward_context & ctx, forward_workspace & ws, double * acc,
                 std::span<const int64_t> positions) {
    std::vector<int64_t> pos;
    // Adds expert used[i]'s down outputs (its tokens' rows of d) into acc.
    const auto add = [&](size_t i, float * ye) {
        const int32_t                e  = used[i];
        const std::vector<int64_t> & ts = tokens_of[e];
        const auto                   nt = static_cast<int64_t>(ts.size());
        add_down_bias(ye, nt, d, e, opt);
        if (ctx.observer != nullptr) {
            pos.resize(nt);
            for (int64_t r = 0; r < nt; ++r) {
                pos[r] = positions[ts[r]];
            }
            ctx.observer->on_expert_output(layer, e, pos, weight_of[e], ye, d);
        }
        for (int64_t r = 0; r < nt; ++r) {
            const float   w   = weight_of[e][r];
            double *      o   = acc + ts[r] * d;
            const float * src = ye + r * d;
            for (int64_t c = 0; c < d; ++c) {
                o[c] += static_cast<double>(w) * src[c];
            }
        }
    };
    constexpr size_t    none = SIZE_MAX;
    std::vector<size_t> parked_at(used.size(), none);  // where in ws.parked an early expert's rows wait
    size_t              next_to_add = 0, parked_end = 0;
    // Expert used[i] is done, its rows at ye: add it and every parked one it unblocks, or park it.
    const auto done = [&](size_t i, float * ye) {
        if (i != next_to_add) {
            const size_t count = tokens_of[used[i]].size() * static_cast<size_t>(d);
            float *      dst   = grown(ws.parked, parked_end + count) + parked_end;
            std::copy(ye, ye + count, dst);
            parked_at[i] = parked_end;
            parked_end += count;
            return;
        }
        add(i, ye);
        ++next_to_add;
        while (next_to_add < used.size() && parked_at[next_to_add] != none) {
            add(next_to_add, ws.parked.data() + parked_at[next_to_add]);
            ++next_to_add;
        }
    };

    std::vector<size_t>     row0;  // per expert of a run: its first row in x, g, u, y
    std::vector<matmul_job> jobs;
    // Experts used[which[j]], with matrices mats[j].
    const auto run = [&](std::span<const size_t> which, std::span<const expert_matrices> mats) {
        const int64_t ff = mats[0].gate.rows;
        row0.assign(1, 0);
        for (size_t j = 0; j < mats.size(); ++j) {
            row0.push_back(row0.back() + tokens_of[used[which[j]]].size());
        }
        const auto rows = row0.back();
        float *    x    = grown(ws.x, rows * d);
        float *    g    = grown(ws.g, rows * ff);
        float *    u    = grown(ws.u, rows * ff);
        float *    y    = grown(ws.y, rows * d);
        jobs.clear();
        for (size_t j = 0; j < mats.size(); ++j) {
            const std::vector<int64_t> & ts = tokens_of[used[which[j]]];
            const auto                   nt = static_cast<int64_t>(ts.size());
            // An expert every token chose reads h itself: its input is then shared with the
            // other such experts and quantized once (always so in one-token decode).
            const float * xj = h;
            if (nt != n) {
                float * dst = x + row0[j] * d;
                for (int64_t r = 0; r < nt; ++r) {
                    std::copy(h + ts[r] * d, h + (ts[r] + 1) * d, dst + r * d);
                }
                xj = dst;
            }
            jobs.push_back({&mats[j].gate, xj, nt, g + row0[j] * ff});
            jobs.push_back({&mats[j].up, xj, nt, u + row0[j] * ff});
        }
        ctx.mm.matmul_many(jobs);
        jobs.clear();
        for (size_t j = 0; j < mats.size(); ++j) {
            const auto nt = static_cast<int64_t>(row0[j + 1] - row0[j]);
            activate(g + row0[j] * ff, u + row0[j] * ff, nt, ff, used[which[j]], opt);
            jobs.push_back({&mats[j].down, g + row0[j] * ff, nt, y + row0[j] * d});
        }
        ctx.mm.matmul_many(jobs);
        for (size_t j = 0; j < mats.size(); ++j) {
            done(which[j], y + row0[j] * d);
        }
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
    if (next_to_add != used.size()) {
        fail("layer {}: the expert source yielded {} of {} experts", layer, next_to_add, used.size());
    }
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
    forward_workspace     local;
    forward_workspace &   ws  = ctx.work != nullptr ? *ctx.work : local;
    std::vector<double> & acc = ws.acc;
    acc.assign(static_cast<size_t>(n * d), 0.0);
    routed_rows(h, n, d, layer, used, tokens_of, weight_of, opt, ctx, ws, acc.data(), positions);
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
    const matmul_job   gu[2] = {{&se.gate, h, n, g.data()}, {&se.up, h, n, u.data()}};  // one pass over the pool
    mm.matmul_many(gu);
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
