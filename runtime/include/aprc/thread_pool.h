// A fixed pool of threads for data-parallel loops: the CPU executor runs every schedule step
// through it (a step's parallel extent cut into chunks), and so do synthetic weight generation and
// the bandwidth measurement. The calling thread takes chunks too, so a pool of N uses N threads.
//
// A decode step is a few hundred kernel calls of tens of microseconds each, so waking the workers
// must cost little: they spin briefly after a loop before they sleep. Workers have 8 MiB stacks
// whatever the process's limit: generated kernels keep their scratch on the stack.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <pthread.h>
#include <type_traits>
#include <vector>

namespace aprc {

// The logical CPUs this process may run on (its affinity mask).
int available_cores();

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 0);  // 0: one per core this process may use
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  static constexpr size_t kWorkerStackBytes = size_t{8} << 20;

  // Calls fn(begin, end) for chunks covering [0, n): every chunk but the last is a multiple of
  // `grain` long; chunks are taken by whichever thread is free. Returns when all are done. If a
  // call throws, the remaining chunks are skipped and the first exception is rethrown here.
  template <typename F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run(n, grain, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Fn*>(ctx))(b, e); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using ChunkFn = void (*)(void* ctx, int64_t begin, int64_t end);
  void run(int64_t n, int64_t grain, ChunkFn fn, void* ctx);
  void take_chunks();
  void worker_loop();

  std::vector<pthread_t> workers_;
  // The current loop.
  ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
  std::mutex error_mutex_;
  // Workers wait for `epoch_` to change and join the loop while `open_`; the caller waits for
  // `active_` (workers inside the loop) to reach zero.
  std::atomic<uint64_t> epoch_{0};
  std::atomic<bool> open_{false};
  std::atomic<int> active_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_, done_;
};

}  // namespace aprc
