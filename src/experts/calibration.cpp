#include "experts/calibration.h"

#include "gguf/gguf.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace sluice {

std::vector<double> calibration::spread() const {
    std::vector<double> out(counts.size(), 0.0);
    for (size_t l = 0; l < counts.size(); ++l) {
        std::vector<double> c = counts[l];
        std::sort(c.rbegin(), c.rend());
        const double total = std::accumulate(c.begin(), c.end(), 0.0);
        double       run   = 0.0;
        for (size_t i = 0; i < c.size() && total > 0.0; ++i) {
            run += c[i];
            if (run >= 0.9 * total) {
                out[l] = static_cast<double>(i + 1);
                break;
            }
        }
    }
    return out;
}

std::vector<int32_t> calibration::by_popularity(int layer) const {
    std::vector<int32_t> ids(static_cast<size_t>(n_expert));
    std::iota(ids.begin(), ids.end(), 0);
    const std::vector<double> & c = counts[layer];
    if (!c.empty()) {
        std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return c[a] > c[b]; });
    }
    return ids;
}

weight_matrix calibration::pregate_matrix(int layer) const {
    const std::vector<float> & w = pregate[layer];
    if (w.empty()) {
        return {};
    }
    return weight_matrix{ggml_type::F32, n_expert, n_embd, static_cast<uint64_t>(n_embd) * sizeof(float),
                         reinterpret_cast<const uint8_t *>(w.data())};
}

void calibration::save(const std::string & path) const {
    gguf_writer w;
    w.set_string("general.type", "sluice.calibration");
    w.set_string("sluice.calibration.model", model_name);
    w.set_u64("sluice.calibration.tokens", static_cast<uint64_t>(tokens));
    w.set_u32("sluice.calibration.layer_count", static_cast<uint32_t>(counts.size()));
    w.set_u32("sluice.calibration.expert_count", static_cast<uint32_t>(n_expert));
    w.set_u64("sluice.calibration.embedding_length", static_cast<uint64_t>(n_embd));
    // Counts as F32 rows; the writer keeps pointers, so they must outlive write().
    std::vector<std::vector<float>> counts_f(counts.size());
    for (size_t l = 0; l < counts.size(); ++l) {
        if (counts[l].empty()) {
            continue;
        }
        counts_f[l].assign(counts[l].begin(), counts[l].end());
        w.add_tensor(fmt::format("counts.{}", l), ggml_type::F32, {n_expert}, counts_f[l].data(),
                     counts_f[l].size() * sizeof(float));
    }
    for (size_t l = 0; l < pregate.size(); ++l) {
        if (pregate[l].empty()) {
            continue;
        }
        w.add_tensor(fmt::format("pregate.{}.weight", l), ggml_type::F32, {n_embd, n_expert}, pregate[l].data(),
                     pregate[l].size() * sizeof(float));
        w.add_tensor(fmt::format("pregate.{}.bias", l), ggml_type::F32, {n_expert}, pregate_bias[l].data(),
                     pregate_bias[l].size() * sizeof(float));
    }
    w.write(path);
}

calibration calibration::load(const std::string & path, int n_layer, int n_expert, int64_t n_embd) {
    const gguf_file f = gguf_file::open(path);
    if (f.get_string("general.type").value_or("") != "sluice.calibration") {
        fail("{}: not a sluice calibration file (make one with `sluice calibrate`)", path);
    }
    calibration c;
    c.model_name  = std::string(f.get_string("sluice.calibration.model").value_or(""));
    c.tokens      = static_cast<int64_t>(f.get_u64("sluice.calibration.tokens").value_or(0));
    c.n_expert    = static_cast<int>(f.require_u32("sluice.calibration.expert_count"));
    c.n_embd      = static_cast<int64_t>(f.get_u64("sluice.calibration.embedding_length").value_or(0));
    const auto nl = static_cast<int>(f.require_u32("sluice.calibration.layer_count"));
    if (nl != n_layer || c.n_expert != n_expert || c.n_embd != n_embd) {
        fail("{}: calibrated for a model with {} layers, {} experts, width {} (from '{}'), but this one has {}, {}, {}",
             path, nl, c.n_expert, c.n_embd, c.model_name, n_layer, n_expert, n_embd);
    }
    c.counts.resize(static_cast<size_t>(nl));
    c.pregate.resize(static_cast<size_t>(nl));
    c.pregate_bias.resize(static_cast<size_t>(nl));
    const auto f32_tensor = [&](const std::string & name, int64_t n) -> const float * {
        const gguf_tensor * t = f.find_tensor(name);
        if (t == nullptr) {
            return nullptr;
        }
        if (t->type != ggml_type::F32 || t->n_elements() != n) {
            fail("{}: tensor '{}' should be F32 with {} elements (offset {})", path, name, n, t->info_offset);
        }
        return reinterpret_cast<const float *>(t->data);
    };
    for (int l = 0; l < nl; ++l) {
        if (const float * p = f32_tensor(fmt::format("counts.{}", l), n_expert)) {
            c.counts[l].assign(p, p + n_expert);
        }
        const float * w = f32_tensor(fmt::format("pregate.{}.weight", l), static_cast<int64_t>(n_expert) * n_embd);
        const float * b = f32_tensor(fmt::format("pregate.{}.bias", l), n_expert);
        if (w != nullptr && b != nullptr) {
            c.pregate[l].assign(w, w + static_cast<int64_t>(n_expert) * n_embd);
            c.pregate_bias[l].assign(b, b + n_expert);
        }
    }
    return c;
}

}  // namespace sluice
