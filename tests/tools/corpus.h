// What several tools tests run on: the bundled trained model and the start of the Python
// corpus sample through its tokenizer.
#pragma once

#include "engine/engine.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace sluice::test {

inline const std::string trained_model = std::string(SLUICE_MODELS) + "/trained-qwen3moe-q8_0.gguf";

// The trained model, in RAM, on 2 threads.
inline engine trained_engine() {
    engine_options o;
    o.model_path = trained_model;
    o.n_threads  = 2;
    return engine(o);
}

// The first n tokens (BOS first) of tests/data/corpus/python.txt.
inline std::vector<int32_t> python_tokens(const engine & e, size_t n) {
    std::ifstream        in(std::string(SLUICE_TEST_DATA) + "/corpus/python.txt");
    const std::string    text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int32_t> ids = e.require_tokenizer().encode(text, true, false);
    ids.resize(std::min(ids.size(), n));
    return ids;
}

}  // namespace sluice::test
