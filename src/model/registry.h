// general.architecture -> the code that builds that architecture. Adding an architecture
// is one file (src/model/<arch>.cpp) and one line in registry.cpp.
#pragma once

#include "model/model.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class gguf_file;

// Builds the model of the file's architecture; the file must outlive the model. Throws
// listing the supported architectures when the file's is not one of them.
std::unique_ptr<model> load_model(const gguf_file & file);

std::vector<std::string_view> supported_architectures();

}  // namespace sluice
