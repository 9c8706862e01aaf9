// Factories of the tokenizer implementations (one file each); only tokenizer.cpp calls them.
#pragma once

#include "tokenizer/tokenizer.h"

namespace sluice {

std::unique_ptr<tokenizer> make_spm_tokenizer(const gguf_file & f);
std::unique_ptr<tokenizer> make_bpe_tokenizer(const gguf_file & f);

}  // namespace sluice
