// libFuzzer target for the model loader: the input is a GGUF file; when it parses, the model
// is built from it as `run` builds one (general.architecture -> the registry, metadata ->
// hyper-parameters, the tensor table -> every tensor by name, shape and type, the expert
// store, the routers), then a state for a few tokens is made. Each step may refuse with
// sluice::error; any other exception, a sanitizer report, a huge allocation, a hang or a
// trap is a bug. Seeds: tiny models of every architecture (fuzz/run.sh writes them).
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/registry.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    try {
        const sluice::gguf_file              f = sluice::gguf_file::parse({data, size}, "fuzz.gguf");
        const std::unique_ptr<sluice::model> m = sluice::load_model(f);
        (void)m->new_state(4, sluice::ggml_type::F32);
    } catch (const sluice::error &) {
        // the one expected outcome for a bad file
    }
    return 0;
}
