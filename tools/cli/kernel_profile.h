// `aprc bench PLAN --per-kernel`: each kernel's time in a decode step (and in one prefill call),
// timed step by step through the engine's StepObserver (the CPU engine reads a clock around each
// step; the CUDA engine records events), next to the bytes it must move and the arithmetic it must
// do, against the memory bandwidth and arithmetic peaks measured in the same run (a kernel that runs
// on the tensor cores against the peak of its instruction, the others against the fp32 peak): a
// roofline per kernel, and a summary of where the step's time goes.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aprc/engine.h"
#include "aprc/plan.h"
#include "args.h"

namespace aprc::cli {

// What a step must move and compute at least, for a call of T tokens at position pos: every weight
// it binds once (an embedding table only for the rows looked up), its activations read and
// written once, the KV cache positions attention reads once; a multiply-add counts 2 flops.
struct StepCost {
  double weight_bytes = 0;
  double cache_bytes = 0;       // KV cache read and written
  double activation_bytes = 0;  // activations read and written
  double flops = 0;
  double bytes() const { return weight_bytes + cache_bytes + activation_bytes; }
  StepCost& operator+=(const StepCost& o) {
    weight_bytes += o.weight_bytes, cache_bytes += o.cache_bytes, activation_bytes += o.activation_bytes, flops += o.flops;
    return *this;
  }
};
StepCost step_cost(const Step& step, const PlanManifest& manifest, int64_t T, int64_t pos);

struct KernelProfile {
  std::string kernel;
  KernelKind kind = KernelKind::Add;
  int calls = 0;         // steps of the call that use it
  double seconds = 0;    // their time, per call of the function
  StepCost cost;         // theirs, summed
};

struct CallProfile {
  std::string function;
  int64_t T = 0, pos = 0;
  int repeats = 0;             // calls averaged
  double timed_seconds = 0;    // the sum of the steps' times (each step timed alone)
  double wall_seconds = 0;     // one call without timing
  std::vector<KernelProfile> kernels;  // slowest first
};

struct PerKernelOptions {
  int64_t prompt_len = 128;  // the prefill call profiled (at most the function's max_tokens)
  int64_t decode_steps = 16; // decode calls averaged (after the prompt)
};

struct PerKernelResult {
  std::string engine, device;
  MemoryBandwidth bandwidth;
  double peak_gflops = 0;  // fp32 (cpu: or bf16 dot products); 0: the engine cannot measure it
  Engine::TensorPeaks tensor_peaks;  // cuda: the tensor-core instructions' peaks
  CallProfile decode, prefill;
};

PerKernelResult profile_kernels(Engine& engine, const Plan& plan, const PlanTarget& target,
                                const PerKernelOptions& options,
                                const std::function<void(std::string_view)>& progress);

// The arithmetic peak a kernel is held to: "fp32", or on cuda "bf16 mma" / "e4m3 mma" for the
// tensor-core prefill tiles (their kernel names' variant, aprc/cuda/abi.h); gflops 0 when not measured.
struct KernelPeak {
  const char* name;
  double gflops;
};
KernelPeak kernel_peak(const std::string& kernel, const PerKernelResult& r);

void print_per_kernel(const PerKernelResult& r, const std::string& plan_path);
nlohmann::json per_kernel_json(const PerKernelResult& r);

// The command: `aprc bench PLAN --per-kernel` (cmd_bench.cpp hands over its parsed flags).
int bench_per_kernel(const Args& args, const std::string& plan_path);

}  // namespace aprc::cli
