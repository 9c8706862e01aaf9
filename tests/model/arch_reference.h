// Checks shared by the per-architecture tests against the llama.cpp reference logits in
// tests/data/archs (see the fixtures README): every position of one prefill compared with
// the reference, decode token by token against one batch, and copies of a fixture with a
// key or tensor removed.
#pragma once

#include "gguf/gguf.h"
#include "golden.h"
#include "util/error.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

namespace sluice::test {

inline engine open_arch(const std::string & path, int threads = 2) {
    engine_options o;
    o.model_path = path;
    o.n_threads  = threads;
    return engine(o);
}

struct logits_diff {
    double      max_abs            = 0.0;
    double      mean_abs           = 0.0;
    int         argmax_differences = 0;
    std::string worst;
};

// One prefill of the case's ids (F32 KV cache), every position against the reference row.
inline logits_diff compare_with_reference(engine & e, const nlohmann::json & c) {
    const auto      ids = c["ids"].get<std::vector<int32_t>>();
    session_options so;
    so.n_ctx   = static_cast<int64_t>(ids.size());
    so.kv_type = ggml_type::F32;
    session                  s(e, so);
    const std::vector<float> l = s.eval_all(ids);
    const int64_t            V = e.hparams().n_vocab;
    logits_diff              r;
    for (size_t p = 0; p < ids.size(); ++p) {
        const auto & ref      = c["logits"][p];
        int64_t      best_ref = 0, best = 0;
        for (int64_t v = 0; v < V; ++v) {
            const double g   = ref[v].get<double>();
            const double err = std::abs(static_cast<double>(l[p * V + v]) - g);
            r.mean_abs += err;
            if (err > r.max_abs) {
                r.max_abs = err;
                r.worst   = "position " + std::to_string(p) + ", token " + std::to_string(v);
            }
            if (g > ref[best_ref].get<double>()) best_ref = v;
            if (l[p * V + v] > l[p * V + best]) best = v;
        }
        r.argmax_differences += best != best_ref;
    }
    r.mean_abs /= static_cast<double>(ids.size() * V);
    return r;
}

// Token-by-token decode against one batched pass, and a chunked prompt (batches of 7),
// and a reset session replaying the prompt: the largest difference of any logit.
inline double decode_vs_prefill(engine & e, const std::vector<int32_t> & ids, ggml_type kv) {
    const int64_t   V = e.hparams().n_vocab;
    session_options so;
    so.n_ctx   = 64;
    so.kv_type = kv;
    session                  batch(e, so);
    const std::vector<float> all   = batch.eval_all(ids);
    double                   worst = 0.0;

    so.n_batch = 1;
    session one(e, so);
    for (int round = 0; round < 2; ++round) {  // the second round after reset(): state starts afresh
        for (size_t p = 0; p < ids.size(); ++p) {
            const int32_t                tok[1] = {ids[p]};
            const std::span<const float> l      = one.eval(tok);
            for (int64_t v = 0; v < V; ++v) {
                worst = std::max(worst, static_cast<double>(std::abs(l[v] - all[p * V + v])));
            }
        }
        one.reset();
    }
    so.n_batch = 7;
    session                      chunked(e, so);
    const std::span<const float> last = chunked.eval(ids);
    for (int64_t v = 0; v < V; ++v) {
        worst = std::max(worst, static_cast<double>(std::abs(last[v] - all[(ids.size() - 1) * V + v])));
    }
    return worst;
}

inline std::string load_error(const std::string & path) {
    try {
        engine e = open_arch(path, 1);
    } catch (const error & err) {
        return err.what();
    }
    return "(no error)";
}

// The error loading a copy of `src` without metadata key `skip_key` / tensor `skip_tensor`.
inline std::string error_without(const std::string & src, const std::string & skip_key,
                                 const std::string & skip_tensor) {
    const gguf_file in = gguf_file::open(src);
    gguf_writer     w;
    for (const gguf_kv & kv : in.metadata()) {
        if (kv.key != skip_key) {
            w.set_value(std::string(kv.key), kv.value);
        }
    }
    for (const gguf_tensor & t : in.tensors()) {
        if (t.name != skip_tensor) {
            w.add_tensor(std::string(t.name), t.type, {t.ne, t.ne + t.n_dims}, t.data, t.nbytes);
        }
    }
    const std::string path =
        (std::filesystem::temp_directory_path() / ("sluice-archb-" + std::to_string(::getpid()) + ".gguf")).string();
    w.write(path);
    std::string msg = load_error(path);
    std::filesystem::remove(path);
    return msg;
}

}  // namespace sluice::test
