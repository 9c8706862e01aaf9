// The tiny qwen3moe fixture (sp4096 vocabulary) as an engine for the server tests.
#pragma once

#include "engine/engine.h"

#include <string>

namespace sluice::server::test {

inline std::string data_path(const std::string & rel) {
    return std::string(SLUICE_TEST_DATA) + "/" + rel;
}

inline engine & tiny_engine() {
    static engine e([] {
        engine_options o;
        o.model_path = data_path("tiny-qwen3moe-f32.gguf");
        o.n_threads  = 2;
        return o;
    }());
    return e;
}

}  // namespace sluice::server::test
