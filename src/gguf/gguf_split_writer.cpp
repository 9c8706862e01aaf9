// Writing split models (llama.cpp's gguf-split layout): the tensors are cut into parts by
// size, and each part is written as a whole GGUF file by a gguf_writer of its own.
#include "gguf/gguf.h"
#include "util/error.h"

#include <charconv>
#include <cstdio>
#include <limits>

namespace sluice {

uint64_t parse_split_size(std::string_view text, std::string_view flag) {
    uint64_t       n      = 0;
    const char *   end    = text.data() + text.size();
    const auto     parsed = std::from_chars(text.data(), end, n);
    const char *   p      = parsed.ptr;
    const bool     number = parsed.ec == std::errc();
    const uint64_t unit   = !number        ? 0
                            : p == end     ? 1
                            : p + 1 != end ? 0
                            : *p == 'K'    ? 1000
                            : *p == 'M'    ? 1000 * 1000
                            : *p == 'G'    ? 1000 * 1000 * 1000
                                           : 0;
    uint64_t       bytes  = 0;
    if (unit == 0 || n == 0 || __builtin_mul_overflow(n, unit, &bytes)) {
        fail("{} '{}': expected a positive size in bytes, optionally with K, M or G (powers of 1000), e.g. 500M or 2G",
             flag, text);
    }
    return bytes;
}

std::vector<std::string> gguf_writer::write_maybe_split(const std::string & path, uint64_t max_part_bytes,
                                                        const tensor_producer & produce) const {
    if (max_part_bytes == 0) {
        write(path, produce);
        return {path};
    }
    return write_split(path, max_part_bytes, produce);
}

std::vector<size_t> gguf_writer::split_points(uint64_t max_part_bytes) const {
    if (max_part_bytes == 0) {
        fail("gguf_writer: a split part of at most 0 bytes");
    }
    std::vector<size_t> first{0};
    uint64_t            bytes = 0;  // tensor bytes of the part being filled, padded as written
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const uint64_t n      = tensors_[i].nbytes;
        const uint64_t padded = n + (alignment_ - n % alignment_) % alignment_;
        // A part never closes empty: a tensor larger than the limit gets a part of its own.
        if (i > first.back() && padded > max_part_bytes - std::min(bytes, max_part_bytes)) {
            first.push_back(i);
            bytes = 0;
        }
        bytes += padded;
    }
    return first;
}

std::vector<std::string> gguf_writer::write_split(const std::string & path, uint64_t max_part_bytes,
                                                  const tensor_producer & produce) const {
    const std::vector<size_t> first = split_points(max_part_bytes);
    const size_t              count = first.size();
    if (count > std::numeric_limits<uint16_t>::max()) {
        fail("{}: {} parts of at most {} bytes; a split model has at most {} (raise --split-max-size)", path, count,
             max_part_bytes, std::numeric_limits<uint16_t>::max());
    }
    if (tensors_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        fail("{}: {} tensors do not fit split.tensors.count (i32)", path, tensors_.size());
    }
    const std::string prefix = path.ends_with(".gguf") ? path.substr(0, path.size() - 5) : path;

    std::vector<std::string> written;
    try {
        for (size_t p = 0; p < count; ++p) {
            gguf_writer part;
            if (p == 0) {
                for (const kv & e : kvs_) {
                    if (!is_split_key(e.key)) {
                        part.kvs_.push_back(e);
                    }
                }
            }
            part.set_alignment(alignment_);  // for p > 0, written to the metadata when not 32
            part.set_u16(std::string(k_split_no), static_cast<uint16_t>(p));
            part.set_u16(std::string(k_split_count), static_cast<uint16_t>(count));
            part.set_i32(std::string(k_split_tensors_count), static_cast<int32_t>(tensors_.size()));
            const size_t end = p + 1 < count ? first[p + 1] : tensors_.size();
            part.tensors_.assign(tensors_.begin() + static_cast<std::ptrdiff_t>(first[p]),
                                 tensors_.begin() + static_cast<std::ptrdiff_t>(end));

            const std::string part_path =
                split_part_path(prefix, static_cast<uint32_t>(p), static_cast<uint32_t>(count));
            tensor_producer local;
            if (produce) {
                local = [&produce, base = first[p]](size_t i) { return produce(base + i); };
            }
            part.write(part_path, local);
            written.push_back(part_path);
        }
    } catch (...) {
        for (const std::string & w : written) {
            std::remove(w.c_str());
        }
        throw;
    }
    return written;
}

}  // namespace sluice
