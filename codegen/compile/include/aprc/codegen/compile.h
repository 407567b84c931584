// aprc compile: a Model -> a plan file. The frontend's model becomes the aprc module (the IR
// builder); per target, a copy of it is lowered (aprc-lower-cpu / aprc-lower-cuda: fusions, weight
// layouts, memory plan), turned into schedules (schedule_builder.h) and compiled into kernels
// (codegen/cpu, codegen/cuda); the weights are materialized in the layouts the targets chose, and
// the plan stores everything with the module before any lowering pass (for aprc verify). MLIR-free header.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aprc/formats/layouts.h"
#include "aprc/plan.h"
#include "aprc/progress.h"

namespace aprc {
struct Model;
}

namespace aprc::codegen {

struct CompileTarget {
  Backend backend = Backend::Cpu;
  std::vector<int> cuda_archs;  // cuda: cubins for sm_XX (90 when none is named)
  bool operator==(const CompileTarget&) const = default;
};

// "cpu", "cuda", "cuda:sm_90", "cpu,cuda:sm_80,sm_90" (an "sm_XX" item adds an architecture to the
// cuda target before it). Error(BadInput) naming the text for anything else.
std::vector<CompileTarget> parse_targets(std::string_view text);

struct CompileOptions {
  std::vector<CompileTarget> targets{CompileTarget{}};
  int64_t max_tokens = 512;         // the most tokens of one prefill call (longer prompts run in chunks)
  bool print_ir_after_all = false;  // each pass's IR to stderr (mlir-opt --mlir-print-ir-after-all)
  bool timing = false;              // each pass's time to stderr (mlir-opt --mlir-timing)
  // cpu: prefill Linears quantize their activations to int8 (llama.cpp's path, about 1e-2 relative
  // error instead of 1e-5; codegen/cpu); recorded in each kernel's spec.
  bool int8_activations = false;
  // A textual pass pipeline run on the builder's module before anything else (aprc compile --weights
  // fp8: aprc-cast-fp8{...}); the plan's reference IR is the module after it, so that aprc verify
  // compares the plan with the interpreter running the same weight types.
  std::string weight_pipeline;
  // A testing aid for aprc verify: aprc-inject-fault perturbs the ops this pattern names (`*` for any
  // run of characters), after the fusions, in every target. Empty: none (the default).
  std::string inject_fault;
  // Hand-written kernels that replace generated ones (aprc compile --override-kernel NAME=FILE), by
  // kernel name: FILE.mlir for the cpu target (codegen/cpu, CpuKernelOverride); FILE.cu for cuda.
  // Each must name a kernel of a target compiled; the plan records the file in PlanKernel::info.
  std::map<std::string, std::string> kernel_overrides;
  // A synthetic model: the plan stores this instead of the weights, and the runtime generates them.
  std::optional<SyntheticInfo> synthetic;
  nlohmann::json recorded = nlohmann::json::object();  // the options as given, for the manifest
};

// What the compile did, for the command to report.
struct CompileSummary {
  size_t weights = 0;          // entries of the weights table
  uint64_t weight_bytes = 0;   // in the plan (or generated, for a synthetic plan)
  std::vector<std::pair<std::string, size_t>> kernels;  // per target: distinct kernels
  std::vector<std::pair<std::string, double>> seconds;  // per stage
};

// Compiles `model` into the plan at `path` (written beside it and renamed when complete).
// Error(BadInput) for a model or target aprc cannot compile, naming it.
CompileSummary compile_plan(const Model& model, const std::string& path, const CompileOptions& options,
                            Progress* progress = nullptr);

}  // namespace aprc::codegen
