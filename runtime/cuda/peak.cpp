#include "aprc/cuda/peak.h"

#include <algorithm>
#include <string>

#include "aprc/error.h"

namespace aprc::cuda {
namespace {

// The kernel's best GFLOP/s over run.passes timed launches; 0 when the module lacks it.
double measure(Device& device, const PeakKernel& peak, const PeakRun& run, DevPtr out, DevPtr scalars,
               std::vector<std::pair<std::string, std::vector<float>>>* outputs) {
  void* kernel = nullptr;
  try {
    kernel = device.kernel(peak.name);
  } catch (const Error&) {
    return 0;  // a module from before the peak kernels
  }
  LaunchShape shape;
  shape.grid[0] = run.blocks;
  shape.block[0] = kPeakThreads;
  DevPtr ws = 0;
  void* params[] = {&out, &scalars, &ws, nullptr};
  const std::string what = std::string("arithmetic peak (") + peak.name + ")";
  device.launch(kernel, shape, params, what);  // warm-up: clocks, instruction cache
  double best = 0;
  for (int pass = 0; pass < run.passes; ++pass) {
    device.timer_start();
    device.launch(kernel, shape, params, what);
    const double seconds = device.timer_stop_seconds();
    const double flops = peak.flops_per_thread_iteration * kPeakThreads * run.blocks * static_cast<double>(run.iterations);
    if (seconds > 0) best = std::max(best, flops / seconds / 1e9);
  }
  device.synchronize(what);
  if (outputs) {
    std::vector<float> values(static_cast<size_t>(run.blocks) * kPeakThreads);
    device.download(values.data(), out, values.size() * sizeof(float));
    outputs->emplace_back(peak.name, std::move(values));
  }
  return best;
}

}  // namespace

Peaks measure_peaks(Device& device, const PeakRun& run, std::vector<std::pair<std::string, std::vector<float>>>* outputs) {
  if (run.blocks < 1 || run.iterations < 8 || run.iterations % 8 != 0 || run.passes < 1)
    throw_internal("measure_peaks: blocks >= 1, iterations a positive multiple of 8 and passes >= 1");
  const uint64_t out_bytes = uint64_t{run.blocks} * kPeakThreads * sizeof(float);
  const DevPtr out = device.alloc(out_bytes, "arithmetic peak outputs");
  const DevPtr scalars = device.alloc(sizeof(int64_t), "arithmetic peak scalars");
  Peaks p;
  try {
    const int64_t iterations = run.iterations;
    device.upload(scalars, &iterations, sizeof iterations);
    p.fp32_gflops = measure(device, kPeakFp32, run, out, scalars, outputs);
    p.bf16_gflops = measure(device, kPeakBf16, run, out, scalars, outputs);
    if (device.compute_capability() >= 89) p.fp8_gflops = measure(device, kPeakFp8, run, out, scalars, outputs);
  } catch (...) {
    device.free(out);
    device.free(scalars);
    throw;
  }
  device.free(out);
  device.free(scalars);
  return p;
}

}  // namespace aprc::cuda
