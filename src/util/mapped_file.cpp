#include "util/mapped_file.h"

#include "util/error.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <utility>

namespace sluice {
namespace {

// The live mappings, for the SIGBUS handler: a fixed table it can read without locks or
// allocation. A slot's message is written before its range is published (release), and the
// range is withdrawn before the slot is reused.
struct fault_slot {
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    char                   message[640] = {};
    size_t                 length       = 0;
};
constexpr size_t k_slots = 64;
fault_slot       g_slots[k_slots];
std::mutex       g_slots_mu;  // registration and withdrawal only

void on_sigbus(int sig, siginfo_t * info, void *) {
    const auto a = reinterpret_cast<uintptr_t>(info->si_addr);
    for (fault_slot & s : g_slots) {
        if (info->si_code <= 0) {  // sent (kill, raise), not a fault: si_addr means nothing
            break;
        }
        const uintptr_t b = s.begin.load(std::memory_order_acquire);
        if (b != 0 && a >= b && a < s.end.load(std::memory_order_acquire)) {
            [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.message, s.length);
            ::_exit(1);
        }
    }
    // Not a mapped model: the default action (the faulting access runs again and dies).
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void publish(const void * data, size_t size, const std::string & path) {
    if (data == nullptr) {
        return;
    }
    std::lock_guard lock(g_slots_mu);
    for (fault_slot & s : g_slots) {
        if (s.begin.load(std::memory_order_relaxed) == 0) {
            const std::string m = fmt::format(
                "\nsluice: error: {}: the file shrank or was rewritten while sluice had it mapped (a read of its "
                "data failed); restore the file and start again\n",
                path);
            s.length = std::min(m.size(), sizeof s.message);
            std::memcpy(s.message, m.data(), s.length);
            s.end.store(reinterpret_cast<uintptr_t>(data) + size, std::memory_order_release);
            s.begin.store(reinterpret_cast<uintptr_t>(data), std::memory_order_release);
            return;
        }
    }
    // More live mappings than slots: a fault in this one keeps the default action.
}

void withdraw(const void * data) {
    if (data == nullptr) {
        return;
    }
    std::lock_guard lock(g_slots_mu);
    for (fault_slot & s : g_slots) {
        if (s.begin.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(data)) {
            s.begin.store(0, std::memory_order_release);
            s.end.store(0, std::memory_order_release);
            return;
        }
    }
}

}  // namespace

void report_mapping_faults() {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags     = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
}

mapped_file::mapped_file(const std::string & path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("{}: cannot open: {}", path, std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail("{}: not a regular file", path);
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
        void * p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail("{}: cannot mmap {} bytes: {}", path, size_, std::strerror(e));
        }
        data_ = static_cast<const uint8_t *>(p);
        publish(data_, size_, path_);
    }
    ::close(fd);  // the mapping keeps the file alive
}

mapped_file::~mapped_file() {
    release();
}

mapped_file::mapped_file(mapped_file && other) noexcept
    : path_(std::move(other.path_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

mapped_file & mapped_file::operator=(mapped_file && other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void mapped_file::release() {
    if (data_ != nullptr) {
        withdraw(data_);
        ::munmap(const_cast<uint8_t *>(data_), size_);
        data_ = nullptr;
    }
}

}  // namespace sluice
