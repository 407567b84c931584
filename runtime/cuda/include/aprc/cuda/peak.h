// The card's arithmetic peaks, measured with the peak kernels every generated module has (abi.h,
// codegen/cuda/device/peak.cuh): fp32 FMA chains on the CUDA cores, and bf16 and e4m3 mma.sync on
// the tensor cores (the instructions the prefill tiles run, so the peak a tile is held to is one its
// instruction can reach). `aprc bench --per-kernel` compares each kernel with the peak of what it
// runs on.
#pragma once

#include <cstdint>
#include <vector>

#include "aprc/cuda/abi.h"
#include "aprc/cuda/device.h"

namespace aprc::cuda {

struct PeakRun {
  unsigned blocks = 65536;     // many waves, so that the last one's idle SMs cost under 1%
  int64_t iterations = 2048;   // each thread's chain length (a multiple of 8): about 20 ms a launch on an H100
  int passes = 3;              // the best of them (after one warm-up launch)
};

// GFLOP/s of each peak kernel (a multiply-add counts 2); 0 for one the loaded module lacks (a plan
// compiled before they existed) or, for e4m3, a card older than sm_89 (it runs a model of the
// instruction there). `outputs`, when set, receives each kernel's out buffer of the last launch, by
// kernel name (for the emulator tests).
struct Peaks {
  double fp32_gflops = 0;
  double bf16_gflops = 0;
  double fp8_gflops = 0;
};
Peaks measure_peaks(Device& device, const PeakRun& run = {},
                    std::vector<std::pair<std::string, std::vector<float>>>* outputs = nullptr);

}  // namespace aprc::cuda
