// Host memory bandwidth, measured on a thread pool: the roofline the CPU engine's decode is
// compared with (a decode step streams every weight from memory once).
#pragma once

#include <cstddef>

#include "aprc/thread_pool.h"

namespace aprc {

// Bytes read per second / 1e9: every thread sums its share of a `bytes` buffer; the best of
// `repeats` passes.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int repeats);

// (bytes read + bytes written) per second / 1e9 of copying a `bytes` buffer into another, every
// thread a share; the best of `repeats` passes.
double measure_copy_bandwidth(ThreadPool& pool, size_t bytes, int repeats);

}  // namespace aprc
