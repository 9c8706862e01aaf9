// Reading split models (llama.cpp's gguf-split): the first part names how many parts there
// are; the others are found by name next to it, parsed alone, checked to belong to the same
// model (split.count, split.no by position, split.tensors.count, no tensor twice) and their
// tensors joined to the first part's, each tagged with its part.
#include "gguf/gguf.h"
#include "gguf/gguf_cursor.h"

#include <filesystem>
#include <limits>
#include <system_error>

namespace sluice {
namespace {

// split.count and split.no are u16 in llama.cpp's files.
constexpr uint64_t k_max_parts = std::numeric_limits<uint16_t>::max();

std::string position_suffix(uint64_t no, uint64_t count) {
    return fmt::format("-{:05d}-of-{:05d}.gguf", no + 1, count);
}

// A part's split keys against what the first part and the part's name say.
void check_part(const gguf_file & part, const std::string & first, uint32_t no, uint32_t count, int64_t n_tensors) {
    const auto part_count = part.get_u64(k_split_count);
    if (!part_count) {
        fail("{}: no '{}' key: not a part of a split model (expected part {} of {} of {})", part.path(), k_split_count,
             no + 1, count, first);
    }
    if (*part_count != count) {
        fail("{}: split.count is {} but the first part, {}, says {}: the part belongs to another model", part.path(),
             *part_count, first, count);
    }
    const auto part_no = part.get_u64(k_split_no);
    if (!part_no) {
        fail("{}: no '{}' key (expected {}, its position by name)", part.path(), k_split_no, no);
    }
    if (*part_no != no) {
        fail(
            "{}: split.no is {} but the name makes it part {} of {} (split.no {}): the part belongs to another model "
            "or was renamed",
            part.path(), *part_no, no + 1, count, no);
    }
    const auto part_tensors = part.get_i64(k_split_tensors_count);
    if (!part_tensors || *part_tensors != n_tensors) {
        fail("{}: split.tensors.count is {} but the first part, {}, says {}: the part belongs to another model",
             part.path(), part_tensors ? fmt::format("{}", *part_tensors) : std::string("missing"), first, n_tensors);
    }
}

}  // namespace

bool is_split_key(std::string_view key) {
    return key == k_split_no || key == k_split_count || key == k_split_tensors_count;
}

std::string split_part_path(std::string_view prefix, uint32_t no, uint32_t count) {
    return std::string(prefix) + position_suffix(no, count);
}

std::vector<std::string> gguf_file::part_paths() const {
    std::vector<std::string> out;
    out.reserve(n_parts());
    for (size_t i = 0; i < n_parts(); ++i) {
        out.push_back(part(i).path());
    }
    return out;
}

uint64_t gguf_file::total_size() const {
    uint64_t total = 0;
    for (size_t i = 0; i < n_parts(); ++i) {
        total += part(i).file_size();
    }
    return total;
}

void gguf_file::join_parts() {
    const auto count64 = get_u64(k_split_count);
    if (!count64 || *count64 <= 1) {
        return;  // a whole file (gguf-split may also write a model "split" in one part)
    }
    if (*count64 > k_max_parts) {
        fail("{}: split.count is {}, more than the {} parts a split model can have", name_, *count64, k_max_parts);
    }
    const auto count = static_cast<uint32_t>(*count64);
    const auto no    = get_u64(k_split_no);
    if (!no) {
        fail("{}: split.count is {} but the '{}' key is missing", name_, count, k_split_no);
    }
    if (*no >= count) {
        fail("{}: split.no {} is not below split.count {}", name_, *no, count);
    }
    // The other parts are found by name: this one's, less its position.
    const std::string suffix = position_suffix(*no, count);
    if (!name_.ends_with(suffix)) {
        fail(
            "{}: part {} of a model split in {} (split.no {}), but its name does not end in '{}', so the other parts "
            "cannot be found (rename the parts as gguf-split named them)",
            name_, *no + 1, count, *no, suffix);
    }
    const std::string prefix = name_.substr(0, name_.size() - suffix.size());
    if (*no != 0) {
        fail("{}: part {} of {} of a split model; load its first part, {}", name_, *no + 1, count,
             split_part_path(prefix, 0, count));
    }
    const auto n_tensors = get_i64(k_split_tensors_count);
    if (!n_tensors) {
        fail("{}: split.count is {} but the '{}' key is missing", name_, count, k_split_tensors_count);
    }

    for (uint32_t i = 1; i < count; ++i) {
        const std::string path = split_part_path(prefix, i, count);
        std::error_code   ec;
        if (!std::filesystem::exists(path, ec) && !ec) {
            fail("{}: part {} of {} of {} is missing", path, i + 1, count, name_);
        }
        gguf_file p = open_one(path);
        check_part(p, name_, i, count, *n_tensors);
        parts_.push_back(std::move(p));
    }

    for (uint32_t i = 1; i < count; ++i) {
        for (const gguf_tensor & t : parts_[i - 1].tensors_) {
            if (auto it = tensor_index_.find(t.name); it != tensor_index_.end()) {
                const gguf_tensor & seen = tensors_[it->second];
                fail(
                    "{}: tensor '{}' (info at offset {}) is also in {} (info at offset {}): a tensor lies in one "
                    "part only",
                    parts_[i - 1].name_, gguf_printable(t.name), t.info_offset, path_of(seen), seen.info_offset);
            }
            gguf_tensor joined = t;
            joined.part        = i;
            tensor_index_.emplace(joined.name, tensors_.size());
            tensors_.push_back(joined);
        }
    }
    if (static_cast<int64_t>(tensors_.size()) != *n_tensors) {
        fail("{}: the {} parts hold {} tensors, but split.tensors.count says {}", name_, count, tensors_.size(),
             *n_tensors);
    }
}

}  // namespace sluice
