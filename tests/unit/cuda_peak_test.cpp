// The arithmetic peak kernels (codegen/cuda/device/peak.cuh) and their measurement (cuda/peak.h):
// every thread's output against the same arithmetic done here (so the work the flop count claims is
// done), on the emulator and, where there is one, on the GPU (with a plausible rate).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "aprc/codegen/cuda.h"
#include "aprc/cuda/peak.h"
#include "cuda_builtin_module.h"
#include "cuda_emu_device.h"

namespace aprc::cuda {
namespace {

// What thread `id` of the fp32 kernel ends at: 16 chains of fma(acc, 0.9999, 0.0001).
float fma_chains(int id, int64_t iterations) {
  float sum = 0.f;
  for (int c = 0; c < 16; ++c) {
    float acc = static_cast<float>(id & 63) * 0.001f + static_cast<float>(c) * 0.01f;
    for (int64_t i = 0; i < iterations; ++i) acc = std::fmaf(acc, 0.9999f, 0.0001f);
    sum += acc;
  }
  return sum;
}

// What every thread of block `b` of an mma kernel ends at: 4 chains of 4 accumulators, each
// iterations * K * a * 0.5 with a = 1 + b % 4 (exact: small integers and halves).
float mma_chains(int block, int64_t iterations, int k) {
  return 16.f * static_cast<float>(iterations) * static_cast<float>(k) * static_cast<float>(1 + block % 4) * 0.5f;
}

void check_outputs(const std::vector<std::pair<std::string, std::vector<float>>>& outputs, const PeakRun& run,
                   bool fp8) {
  ASSERT_EQ(outputs.size(), fp8 ? 3u : 2u);
  for (const auto& [name, values] : outputs) {
    SCOPED_TRACE(name);
    ASSERT_EQ(values.size(), static_cast<size_t>(run.blocks) * kPeakThreads);
    for (size_t i = 0; i < values.size(); ++i) {
      const int id = static_cast<int>(i), block = id / kPeakThreads;
      float want;
      if (name == kPeakFp32.name)
        want = fma_chains(id, run.iterations);
      else if (name == kPeakBf16.name)
        want = mma_chains(block, run.iterations, 16);
      else
        want = mma_chains(block, run.iterations, 32);
      // fp32: the chains are the same FMAs in the same order; only the final 16-term sum may be
      // reassociated by the device compiler.
      ASSERT_NEAR(values[i], want, 1e-5f * std::fabs(want)) << "thread " << i;
      ASSERT_FALSE(std::isnan(values[i]));
    }
  }
}

TEST(CudaPeak, KernelsDoTheArithmeticTheyCountOnTheEmulator) {
  if (const char* s = std::getenv("APRC_SKIP_EMU"); s && *s == '1') GTEST_SKIP() << "APRC_SKIP_EMU=1";
  test::EmuDevice device;
  ModuleImage image;
  image.source = emit_module({});  // a module of no plan kernels still has the peak kernels
  device.load_module(image);
  PeakRun run;
  run.blocks = 5;  // blocks of different a values, and odd counts
  run.iterations = 24;
  run.passes = 1;
  std::vector<std::pair<std::string, std::vector<float>>> outputs;
  const Peaks p = measure_peaks(device, run, &outputs);
  EXPECT_EQ(p.fp32_gflops, 0);  // the emulator has no timer: no rate, but every output checked
  check_outputs(outputs, run, true);
}

TEST(CudaPeak, MeasuredOnTheGpu) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "no GPU here: " << why;
  auto device = open_cuda_device();
  test::load_builtin_module(*device);
  PeakRun run;
  run.blocks = 1024;
  run.iterations = 512;
  std::vector<std::pair<std::string, std::vector<float>>> outputs;
  const Peaks p = measure_peaks(*device, run, &outputs);
  std::printf("%s: fp32 %.0f GFLOP/s, bf16 mma %.0f GFLOP/s, e4m3 mma %.0f GFLOP/s\n", device->description().c_str(),
              p.fp32_gflops, p.bf16_gflops, p.fp8_gflops);
  check_outputs(outputs, run, device->compute_capability() >= 89);
  EXPECT_GT(p.fp32_gflops, 1000);  // any card of sm_80 or newer does more than a TFLOP/s of fp32
  EXPECT_GT(p.bf16_gflops, p.fp32_gflops);
}

}  // namespace
}  // namespace aprc::cuda
