// The host's fp32 arithmetic peak, measured on a thread pool: the compute roofline `aprc bench
// --per-kernel` holds compute-bound kernels (prefill matrix products) to.
#pragma once

#include "aprc/thread_pool.h"

namespace aprc {

// Floating-point operations per second / 1e9 (a multiply-add counts 2) of independent chains on
// every thread of `pool`: fp32 FMAs in the widest vectors this CPU has (AVX-512, AVX2+FMA, else a
// multiply and an add), and where it has AVX512-BF16 bf16 dot products into fp32 (which the CPU
// kernels' bf16 readers use); the faster of them, best of a few passes.
double measure_peak_gflops(ThreadPool& pool);

}  // namespace aprc
