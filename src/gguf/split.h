// Split models (llama.cpp's gguf-split): a model cut into parts at tensor boundaries, every
// part a whole GGUF file with its own metadata and tensor infos. Every part holds split.no
// (u16, 0-based), split.count (u16) and split.tensors.count (i32, over all parts); the first
// part carries the model's metadata. Parts are named PREFIX-00001-of-0000N.gguf.
//
// Reading: gguf_file::open(first part) opens them all (gguf_split.cpp). Writing:
// gguf_writer::write_split (gguf_split_writer.cpp), or write_gguf below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

inline constexpr std::string_view k_split_no            = "split.no";
inline constexpr std::string_view k_split_count         = "split.count";
inline constexpr std::string_view k_split_tensors_count = "split.tensors.count";

// Whether a metadata key describes the split (a tool copying metadata into a new file drops
// them: the new file is split, or not, on its own terms).
bool is_split_key(std::string_view key);

// The name of part `no` (0-based) of `count`: PREFIX-%05d-of-%05d.gguf with no + 1.
std::string split_part_path(std::string_view prefix, uint32_t no, uint32_t count);

// --split-max-size: bytes, with an optional K, M or G (powers of 1000, as llama.cpp's
// gguf-split reads M and G). Throws naming the flag on anything else, or 0.
uint64_t parse_split_size(std::string_view text, std::string_view flag = "--split-max-size");

}  // namespace sluice
