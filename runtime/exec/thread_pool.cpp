#include "aprc/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <sched.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace aprc {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Spins until pred() holds or about `budget` has passed; returns whether pred() holds.
template <typename Pred>
bool spin_until(Pred pred, std::chrono::microseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

constexpr std::chrono::microseconds kSpin{100};

}  // namespace

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = available_cores();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStackBytes);
  for (int i = 1; i < threads; ++i) {
    pthread_t t;
    const int err = pthread_create(
        &t, &attr, [](void* pool) -> void* {
          static_cast<ThreadPool*>(pool)->worker_loop();
          return nullptr;
        },
        this);
    if (err != 0) break;  // fewer threads than asked: the pool still works, more slowly
    workers_.push_back(t);
  }
  pthread_attr_destroy(&attr);
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  epoch_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  for (pthread_t w : workers_) pthread_join(w, nullptr);
}

void ThreadPool::take_chunks() {
  for (;;) {
    const int64_t begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= n_) return;
    try {
      fn_(ctx_, begin, std::min(n_, begin + chunk_));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_);
    }
  }
}

// A worker joins a loop only while it is open, and the caller closes it as soon as no chunk is left,
// then waits only for the workers inside it. A worker that the OS has not run yet (the machine is
// busy) thus never holds the caller up; it finds the loop closed, or joins a later one.
void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return epoch_.load() != seen; }, kSpin)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return epoch_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = epoch_.load();
    if (stop_.load()) return;
    active_.fetch_add(1);  // seq_cst with the load of open_, against the caller's store and load
    if (open_.load()) take_chunks();
    if (active_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::run(int64_t n, int64_t grain, ChunkFn fn, void* ctx) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  // About four chunks a thread balance the load when other processes take cores now and then.
  const int64_t target = (n + 4 * size() - 1) / (4 * size());
  const int64_t chunk = std::max(grain, (target + grain - 1) / grain * grain);
  if (workers_.empty() || chunk >= n) {
    fn(ctx, 0, n);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  chunk_ = chunk;
  error_ = nullptr;
  next_.store(0);
  open_.store(true);
  epoch_.fetch_add(1);  // seq_cst, as is the read of sleepers_ below and its increment in workers
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  take_chunks();
  open_.store(false);
  if (!spin_until([&] { return active_.load() == 0; }, kSpin)) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_.wait(lock, [&] { return active_.load() == 0; });
    caller_sleeping_.store(false);
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace aprc
