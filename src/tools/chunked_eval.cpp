#include "tools/chunked_eval.h"

#include "util/progress.h"

#include <algorithm>

namespace sluice {

void run_in_chunks(session & s, int64_t n_batch, std::span<const int32_t> tokens, const char * label,
                   const std::function<forward_observer *(size_t)> & before_chunk) {
    const auto   chunk = static_cast<size_t>(s.n_ctx());
    const auto   batch = static_cast<size_t>(n_batch > 0 ? n_batch : 256);
    progress_bar bar(label, tokens.size(), "tok");
    for (size_t at = 0; at < tokens.size(); at += chunk) {
        const size_t       n   = std::min(chunk, tokens.size() - at);
        forward_observer * obs = before_chunk(at);
        s.reset();
        for (size_t i = 0; i < n; i += batch) {
            s.eval(tokens.subspan(at + i, std::min(batch, n - i)), obs);
            bar.update(at + i + std::min(batch, n - i));
        }
    }
}

}  // namespace sluice
