// The one thread pool of a sluice process. Kernels split rows across it; the calling thread
// takes part in the work, so a pool of N threads starts N-1 workers.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {

class thread_pool {
  public:
    // n_threads <= 0 picks the number of hardware threads.
    explicit thread_pool(int n_threads = 0);
    ~thread_pool();
    thread_pool(const thread_pool &)             = delete;
    thread_pool & operator=(const thread_pool &) = delete;

    int size() const { return n_threads_; }

    // Calls fn(task, thread) for every task in [0, n_tasks), spread over the threads, and
    // returns when all are done. `thread` is in [0, size()) and is stable within one task,
    // so it can index per-thread scratch. Not reentrant: fn must not call parallel_for.
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)> & fn);

    // The caller is about to block (on IO) for longer than the workers spin: workers spinning
    // for the next call sleep now, leaving their cores free. The next parallel_for wakes
    // them. On a VM a spinning vCPU still takes its host core.
    void rest() { resting_.store(true, std::memory_order_relaxed); }

  private:
    void worker_loop(int thread);
    void run_tasks(int thread);

    int                      n_threads_;
    std::vector<std::thread> workers_;

    // Workers spin briefly on `generation_` before sleeping on `wake_`: during decode the
    // pool is called hundreds of times per token for matrices that take tens of
    // microseconds, and a futex wake-up per call would cost as much as the work.
    std::mutex              mutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t>   generation_{0};  // bumped (under mutex_) for every parallel_for
    std::atomic<bool>       stopping_{false};
    std::atomic<bool>       resting_{false};  // rest() until the next parallel_for
    std::atomic<int>        busy_{0};         // workers still inside the current generation

    const std::function<void(int64_t, int)> * job_     = nullptr;
    int64_t                                   n_tasks_ = 0;
    std::atomic<int64_t>                      next_task_{0};
};

// fn(begin, end) over [0, n) in ranges of `grain`, spread over the pool; on the calling thread
// alone when n fits one range (waking the pool would cost more than the work).
template <typename Fn>
void parallel_ranges(thread_pool & pool, int64_t n, int64_t grain, const Fn & fn) {
    if (n <= 0) {
        return;
    }
    if (n <= grain || pool.size() == 1) {
        fn(int64_t{0}, n);
        return;
    }
    pool.parallel_for((n + grain - 1) / grain,
                      [&](int64_t task, int) { fn(task * grain, std::min(n, (task + 1) * grain)); });
}

}  // namespace sluice
