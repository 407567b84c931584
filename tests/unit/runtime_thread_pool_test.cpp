#include <gtest/gtest.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <stdexcept>
#include <vector>

#include "aprc/thread_pool.h"

namespace aprc {
namespace {

TEST(ThreadPool, CoversTheRangeOnceInGrainAlignedChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {1, 2, 7, 64, 1000, 4099}) {
      for (int64_t grain : {1, 3, 16, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<bool> misaligned{false};
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          if (b % grain != 0 || (e != n && (e - b) % grain != 0) || b >= e) misaligned = true;
          for (int64_t i = b; i < e; ++i) hits[i]++;
        });
        EXPECT_FALSE(misaligned) << threads << " threads, n " << n << ", grain " << grain;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " n " << n << " grain " << grain;
      }
    }
  }
}

TEST(ThreadPool, UsesSeveralThreadsForLargeRanges) {
  ThreadPool pool(3);
  std::mutex m;
  std::set<std::thread::id> ids;
  // Chunks that take a while, so that even on a busy machine the workers get to run some.
  for (int rep = 0; rep < 20 && ids.size() < 2; ++rep)
    pool.parallel_for(48, 1, [&](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    });
  EXPECT_GE(ids.size(), 2u);
}

// Generated kernels keep scratch on the stack (up to about 0.5 MiB): workers get 8 MiB whatever
// the process's default.
TEST(ThreadPool, WorkersHaveLargeStacks) {
  ThreadPool pool(3);
  const std::thread::id caller = std::this_thread::get_id();
  std::mutex m;
  size_t smallest = SIZE_MAX;
  int seen = 0;
  for (int rep = 0; rep < 20 && seen == 0; ++rep)
    pool.parallel_for(48, 1, [&](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      if (std::this_thread::get_id() == caller) return;
      pthread_attr_t attr;
      size_t bytes = 0;
      pthread_getattr_np(pthread_self(), &attr);
      pthread_attr_getstacksize(&attr, &bytes);
      pthread_attr_destroy(&attr);
      std::lock_guard<std::mutex> lock(m);
      smallest = std::min(smallest, bytes);
      ++seen;
    });
  ASSERT_GT(seen, 0) << "no worker ran a chunk";
  EXPECT_GE(smallest, ThreadPool::kWorkerStackBytes);
}

TEST(ThreadPool, ManyShortLoopsInARowAllComplete) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 20000; ++rep)
    pool.parallel_for(8, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 8 * 20000);
}

TEST(ThreadPool, RethrowsTheFirstExceptionAndStaysUsable) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(1000, 1,
                                 [&](int64_t b, int64_t) {
                                   if (b >= 500) throw std::runtime_error("chunk failed");
                                 }),
               std::runtime_error);
  std::atomic<int64_t> covered{0};
  pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) { covered += e - b; });
  EXPECT_EQ(covered.load(), 1000);
}

}  // namespace
}  // namespace aprc
