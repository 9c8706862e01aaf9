// Anonymous memory for expert bytes: the streaming cache's slots and staging, the experts
// packed at load, the disk probe's buffers. Page-aligned, so O_DIRECT reads can land in it.
//
// Why huge pages: an O_DIRECT read into 4 KiB pages hands the device one segment per page
// (216 for a 0.84 MiB matrix), and on a VM each is mapped for the host; into 2 MiB pages the
// same read is a few segments. On the development VM reads of Qwen3-30B-sized experts
// (2.53 MiB) ran at 2.1-3.7 GB/s into 4 KiB pages and 5.7-8.3 GB/s into huge pages, and
// the kernels reading the experts miss the TLB less. So the block starts on a 2 MiB
// boundary and asks for transparent huge pages (madvise; where THP is off it gets 4 KiB
// pages and works the same, slower). Its length is not rounded up: a huge page never
// reaches past `bytes`, so resident memory stays within what was asked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice {

class page_block {
  public:
    page_block() = default;
    // `bytes` of zeroed memory (none for 0); throws naming `what` when it cannot be had.
    // populate: fault every page in now, so a budget's memory is taken (and any huge-page
    // compaction paid) at start rather than inside the first reads.
    page_block(uint64_t bytes, const std::string & what, bool populate = false);
    ~page_block();
    page_block(page_block && o) noexcept;
    page_block & operator=(page_block && o) noexcept;
    page_block(const page_block &)             = delete;
    page_block & operator=(const page_block &) = delete;

    std::byte * data() const { return base_; }
    uint64_t    size() const { return size_; }

  private:
    void release();

    std::byte * base_ = nullptr;
    uint64_t    size_ = 0;  // mapped bytes: `bytes` rounded up to whole 4 KiB pages
};

}  // namespace sluice
