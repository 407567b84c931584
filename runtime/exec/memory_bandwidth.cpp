#include "exec/memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "exec/host_buffer.h"

namespace aprc {
namespace {

constexpr int64_t kChunk = 1 << 20;  // bytes a thread takes at a time

template <typename F>
double best_seconds(int repeats, F&& pass) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// Eight independent sums, so that the loads, not the adds, set the pace; an AVX2 (or AVX-512)
// clone where the CPU has it, so that the roofline is not understated by narrow loads.
#if defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t s[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += p[i + k];
  for (; i < n; ++i) s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int repeats) {
  HostBuffer buffer(bytes, "memory bandwidth measurement");
  std::memset(buffer.data(), 1, bytes);  // every page resident before timing
  const auto* words = reinterpret_cast<const uint64_t*>(buffer.data());
  const int64_t chunks = static_cast<int64_t>(bytes / kChunk);
  std::atomic<uint64_t> sink{0};
  const double seconds = best_seconds(repeats, [&] {
    pool.parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      sink += sum_words(words + b * (kChunk / 8), static_cast<size_t>((e - b) * (kChunk / 8)));
    });
  });
  if (sink.load() == 0) return 0;  // keeps the sums from being optimized away (they are never 0)
  return static_cast<double>(chunks * kChunk) / seconds / 1e9;
}

double measure_copy_bandwidth(ThreadPool& pool, size_t bytes, int repeats) {
  HostBuffer from(bytes, "memory bandwidth measurement"), to(bytes, "memory bandwidth measurement");
  std::memset(from.data(), 1, bytes);
  std::memset(to.data(), 0, bytes);
  const int64_t chunks = static_cast<int64_t>(bytes / kChunk);
  const double seconds = best_seconds(repeats, [&] {
    pool.parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      std::memcpy(to.data() + b * kChunk, from.data() + b * kChunk, static_cast<size_t>((e - b) * kChunk));
    });
  });
  return 2.0 * static_cast<double>(chunks * kChunk) / seconds / 1e9;
}

}  // namespace aprc
