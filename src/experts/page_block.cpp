#include "experts/page_block.h"

#include "util/error.h"

#include <sys/mman.h>
#include <unistd.h>

#include <utility>

namespace sluice {
namespace {

constexpr uint64_t huge_page = uint64_t{2} << 20;

uint64_t round_up(uint64_t n, uint64_t to) {
    return (n + to - 1) / to * to;
}

}  // namespace

page_block::page_block(uint64_t bytes, const std::string & what, bool populate) {
    if (bytes == 0) {
        return;
    }
    const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    size_           = round_up(bytes, page);
    // Map a huge page more than needed, then keep the part that starts on a 2 MiB boundary.
    const uint64_t reserve = size_ + huge_page;
    void *         p       = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        size_ = 0;
        fail("cannot allocate {} bytes of {}", bytes, what);
    }
    const auto start   = reinterpret_cast<uintptr_t>(p);
    const auto aligned = round_up(start, huge_page);
    if (aligned > start) {
        ::munmap(p, aligned - start);
    }
    const uintptr_t end = aligned + size_;
    if (start + reserve > end) {
        ::munmap(reinterpret_cast<void *>(end), start + reserve - end);
    }
    base_ = reinterpret_cast<std::byte *>(aligned);
    ::madvise(base_, size_, MADV_HUGEPAGE);  // advice: refused, the block has 4 KiB pages
    if (populate) {
        for (uint64_t at = 0; at < size_; at += page) {
            *reinterpret_cast<volatile std::byte *>(base_ + at) = std::byte{0};
        }
    }
}

void page_block::release() {
    if (base_ != nullptr) {
        ::munmap(base_, size_);
    }
    base_ = nullptr;
    size_ = 0;
}

page_block::~page_block() {
    release();
}

page_block::page_block(page_block && o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}

page_block & page_block::operator=(page_block && o) noexcept {
    if (this != &o) {
        release();
        base_ = std::exchange(o.base_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

}  // namespace sluice
