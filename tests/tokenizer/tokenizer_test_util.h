// Helpers for the tokenizer tests: loading a vocab file from tests/data and reading the
// llama.cpp test-vector format (X.inp: strings each followed by "\n__ggml_vocab_test__\n";
// X.out: one line of space-separated ids per string).
#pragma once

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::test {

inline std::string data_path(const std::string & name) {
    return std::string(SLUICE_TEST_DATA) + "/" + name;
}

inline std::string read_file(const std::string & path) {
    std::ifstream     in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A tokenizer together with the file it views (the gguf_file must outlive nothing here: the
// tokenizer copies what it needs, so the file is closed after loading).
inline std::unique_ptr<tokenizer> load_tokenizer(const std::string & name) {
    const gguf_file f = gguf_file::open(data_path(name));
    return tokenizer::from_gguf(f);
}

// Input -> expected ids; duplicate inputs collapse as in llama.cpp's test-tokenizer-0.
inline std::map<std::string, std::vector<int32_t>> read_vectors(const std::string & inp, const std::string & out) {
    const std::string        text = read_file(data_path(inp));
    const std::string        sep  = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    for (size_t pos = 0; pos < text.size();) {
        const size_t e = text.find(sep, pos);
        if (e == std::string::npos) break;
        inputs.push_back(text.substr(pos, e - pos));
        pos = e + sep.size();
    }
    std::istringstream                          lines(read_file(data_path(out)));
    std::map<std::string, std::vector<int32_t>> result;
    std::string                                 line;
    for (const std::string & in : inputs) {
        if (!std::getline(lines, line)) break;
        std::istringstream   ids(line);
        std::vector<int32_t> v;
        for (int32_t id; ids >> id;) v.push_back(id);
        result[in] = v;
    }
    return result;
}

inline size_t count_inputs(const std::string & inp) {
    const std::string text = read_file(data_path(inp));
    size_t            n    = 0;
    for (size_t pos = 0; (pos = text.find("\n__ggml_vocab_test__\n", pos)) != std::string::npos; ++pos) ++n;
    return n;
}

// A gtest-safe parameter name from a data file path: its base name, non-alphanumerics as '_'.
inline std::string test_name_of(std::string path) {
    path = path.substr(path.find_last_of('/') + 1);
    for (char & ch : path) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return path;
}

}  // namespace sluice::test
