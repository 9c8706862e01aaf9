#include "util/thread_pool.h"

#include <chrono>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SLUICE_CPU_RELAX() _mm_pause()
#else
#define SLUICE_CPU_RELAX() ((void)0)
#endif

namespace sluice {

thread_pool::thread_pool(int n_threads) {
    if (n_threads <= 0) {
        n_threads = static_cast<int>(std::thread::hardware_concurrency());
    }
    n_threads_ = n_threads < 1 ? 1 : n_threads;
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int t = 1; t < n_threads_; ++t) {
        workers_.emplace_back([this, t] { worker_loop(t); });
    }
}

thread_pool::~thread_pool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto & w : workers_) {
        w.join();
    }
}

void thread_pool::run_tasks(int thread) {
    for (;;) {
        const int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
        if (task >= n_tasks_) {
            return;
        }
        (*job_)(task, thread);
    }
}

void thread_pool::worker_loop(int thread) {
    using clock             = std::chrono::steady_clock;
    constexpr auto spin_for = std::chrono::microseconds(300);
    uint64_t       seen     = 0;
    for (;;) {
        // Spin first: the next call usually comes within microseconds.
        const auto spin_until = clock::now() + spin_for;
        while (generation_.load(std::memory_order_acquire) == seen && !stopping_.load(std::memory_order_relaxed)) {
            SLUICE_CPU_RELAX();
            if (resting_.load(std::memory_order_relaxed) || clock::now() > spin_until) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || generation_.load(std::memory_order_acquire) != seen; });
                break;
            }
        }
        if (stopping_.load(std::memory_order_acquire)) {
            return;
        }
        seen = generation_.load(std::memory_order_acquire);
        run_tasks(thread);
        busy_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void thread_pool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)> & fn) {
    if (n_tasks <= 0) {
        return;
    }
    if (workers_.empty() || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; ++t) {
            fn(t, 0);
        }
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_     = &fn;
        n_tasks_ = n_tasks;
        resting_.store(false, std::memory_order_relaxed);
        next_task_.store(0, std::memory_order_relaxed);
        busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_tasks(0);
    // Workers finish their last task within the time of one task; spin rather than sleep.
    while (busy_.load(std::memory_order_acquire) != 0) {
        SLUICE_CPU_RELAX();
    }
    job_ = nullptr;
}

}  // namespace sluice
