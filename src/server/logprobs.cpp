#include "server/logprobs.h"

#include <algorithm>
#include <cmath>

namespace sluice::server {

token_logprob compute_logprob(std::span<const float> logits, int32_t chosen, int n_top) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double      sum = 0.0;
    for (float l : logits) {
        sum += std::exp(static_cast<double>(l - max));
    }
    const double  log_z = static_cast<double>(max) + std::log(sum);
    token_logprob r;
    r.id      = chosen;
    r.logprob = static_cast<float>(logits[chosen] - log_z);
    if (n_top > 0) {
        const size_t         k = std::min<size_t>(static_cast<size_t>(n_top), logits.size());
        std::vector<int32_t> ids(logits.size());
        for (size_t i = 0; i < ids.size(); ++i) {
            ids[i] = static_cast<int32_t>(i);
        }
        std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(k), ids.end(), [&](int32_t a, int32_t b) {
            return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
        for (size_t i = 0; i < k; ++i) {
            r.top.emplace_back(ids[i], static_cast<float>(logits[ids[i]] - log_z));
        }
    }
    return r;
}

}  // namespace sluice::server
