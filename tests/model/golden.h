// Reading the reference outputs in tests/data/golden (computed in float64 by an independent
// implementation; see the fixtures README) and comparing an engine run against them.
#pragma once

#include "engine/engine.h"
#include "engine/routing_recorder.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace sluice::test {

inline std::string data_path(const std::string & rel) {
    return std::string(SLUICE_TEST_DATA) + "/" + rel;
}

inline nlohmann::json read_json(const std::string & path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

struct case_result {
    int64_t     first_flip  = -1;   // position of the first allowed routing flip, -1 if none
    int         hard_flips  = 0;    // routing differences where the golden margin says they must not happen
    double      max_abs_err = 0.0;  // over positions before first_flip
    std::string worst;              // where max_abs_err happened
};

// Runs one golden case in one pass from an empty cache. A routing difference is allowed
// only where the golden margin is below `flip_margin`; logits are compared up to the first
// such position (after it they differ legitimately).
inline case_result run_case(engine & e, const nlohmann::json & c, ggml_type kv, double flip_margin) {
    const std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
    session_options            so;
    so.n_ctx   = static_cast<int64_t>(ids.size());
    so.kv_type = kv;
    session                  s(e, so);
    routing_recorder         rec(static_cast<int>(e.hparams().n_layer));
    const std::vector<float> l    = s.eval_all(ids, &rec);
    const int64_t            V    = e.hparams().n_vocab;
    const auto &             gexp = c["routing"]["experts"];
    const auto &             gmar = c["routing"]["margin"];

    case_result r;
    for (size_t p = 0; p < ids.size() && r.first_flip < 0; ++p) {
        for (int layer = 0; layer < rec.n_layer; ++layer) {
            const auto              g = gexp[p][layer].get<std::set<int32_t>>();
            const std::set<int32_t> ours(rec.experts[p][layer].begin(), rec.experts[p][layer].end());
            if (g != ours) {
                if (gmar[p][layer].get<double>() < flip_margin) {
                    r.first_flip = static_cast<int64_t>(p);
                    break;
                }
                ++r.hard_flips;
            }
        }
    }
    const size_t n_cmp = r.first_flip < 0 ? ids.size() : static_cast<size_t>(r.first_flip);
    for (size_t p = 0; p < n_cmp; ++p) {
        const auto & gl = c["logits"][p];
        for (int64_t v = 0; v < V; ++v) {
            const double err = std::abs(static_cast<double>(l[p * V + v]) - gl[v].get<double>());
            if (err > r.max_abs_err) {
                r.max_abs_err = err;
                r.worst       = "position " + std::to_string(p) + ", token " + std::to_string(v);
            }
        }
    }
    return r;
}

// Greedy continuation of n tokens (argmax, append, recompute), no EOS stop.
inline std::vector<int32_t> greedy(engine & e, const std::vector<int32_t> & prompt, int n, ggml_type kv) {
    session_options so;
    so.n_ctx   = static_cast<int64_t>(prompt.size()) + n;
    so.kv_type = kv;
    session        s(e, so);
    sampler_params sp;
    sp.temperature = 0.0f;
    sampler          pick(sp);
    generate_options go;
    go.n_predict  = n;
    go.ignore_eos = true;
    std::vector<int32_t> out;
    s.generate(prompt, go, pick, [&](int32_t id) {
        out.push_back(id);
        return true;
    });
    return out;
}

// Logits of ids[0 .. size - n_decode) in batches of n_batch (a batch routes to more experts
// than a small expert cache holds), then of the last n_decode ids one at a time; F32 KV.
inline std::vector<float> prefill_then_decode(engine & e, const std::vector<int32_t> & ids, size_t n_decode,
                                              int64_t n_batch, int64_t n_ctx) {
    session_options so;
    so.n_ctx   = n_ctx;
    so.n_batch = n_batch;
    so.kv_type = ggml_type::F32;
    session            s(e, so);
    const size_t       split = ids.size() - n_decode;
    std::vector<float> out   = s.eval_all(std::span(ids).first(split));
    for (size_t i = split; i < ids.size(); ++i) {
        const int32_t                t[1] = {ids[i]};
        const std::span<const float> l    = s.eval(t);
        out.insert(out.end(), l.begin(), l.end());
    }
    return out;
}

}  // namespace sluice::test
