#include "experts/predict/predictor.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sluice {

predictor_kind parse_predictor(std::string_view name) {
    for (predictor_kind k : {predictor_kind::NONE, predictor_kind::CROSS_LAYER, predictor_kind::HISTORY,
                             predictor_kind::FREQUENCY, predictor_kind::PREGATE, predictor_kind::ORACLE}) {
        if (name == name_of(k)) {
            return k;
        }
    }
    fail("unknown predictor '{}' (expected none, cross-layer, history, frequency, pregate or oracle)", name);
}

std::string_view name_of(predictor_kind k) {
    switch (k) {
        case predictor_kind::NONE:
            return "none";
        case predictor_kind::CROSS_LAYER:
            return "cross-layer";
        case predictor_kind::HISTORY:
            return "history";
        case predictor_kind::FREQUENCY:
            return "frequency";
        case predictor_kind::PREGATE:
            return "pregate";
        case predictor_kind::ORACLE:
            return "oracle";
    }
    return "?";
}

void vote_top(const float * scores, int64_t n, int n_expert, int count, std::vector<int32_t> & out) {
    count = std::min(count, n_expert);
    std::vector<int>     votes(static_cast<size_t>(n_expert), 0);
    std::vector<double>  sum(static_cast<size_t>(n_expert), 0.0);
    std::vector<int32_t> order(static_cast<size_t>(n_expert));
    for (int64_t t = 0; t < n; ++t) {
        const float * s = scores + t * n_expert;
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + count, order.end(),
                          [&](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
        for (int j = 0; j < count; ++j) {
            ++votes[order[j]];
            sum[order[j]] += s[order[j]];
        }
    }
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return votes[a] > votes[b] || (votes[a] == votes[b] && sum[a] > sum[b]);
    });
    for (int32_t e : order) {
        if (votes[e] == 0) {
            break;
        }
        out.push_back(e);
    }
}

void rms_normalize(const float * x, float * y, int64_t n, int64_t width, float eps) {
    for (int64_t t = 0; t < n; ++t) {
        const float * xr = x + t * width;
        double        ss = 0.0;
        for (int64_t i = 0; i < width; ++i) {
            ss += static_cast<double>(xr[i]) * xr[i];
        }
        const auto s = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(width) + eps));
        for (int64_t i = 0; i < width; ++i) {
            y[t * width + i] = xr[i] * s;
        }
    }
}

}  // namespace sluice
