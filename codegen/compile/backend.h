// What the compile driver asks of each target's code generator (internal to codegen/compile).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "aprc/codegen/compile.h"
#include "aprc/plan.h"

namespace aprc::codegen {

class TargetBackend {
 public:
  virtual ~TargetBackend() = default;
  // The pipeline that lowers the builder's module for this target.
  virtual std::string lowering_pipeline(int64_t max_tokens) const = 0;
  // Names the step's kernel and fills in what the backend decides about the step.
  virtual void finish_step(Step& step, int64_t max_tokens) = 0;
  // What the backend decides over a function's whole schedule (after finish_step on each step).
  virtual void finish_function(Function&) {}
  // Generates the kernels the target's functions call; adds their sections to the plan and fills in
  // the target's description (triple and features, or architectures).
  virtual void generate(PlanTarget& target, PlanWriter& writer, Progress* progress) = 0;
};

// The text of a hand-written kernel's file (--override-kernel NAME=FILE); Error(BadInput) naming it
// when it cannot be read.
std::string read_kernel_file(const std::string& path);

std::unique_ptr<TargetBackend> make_cpu_backend(const CompileOptions& options);
std::unique_ptr<TargetBackend> make_cuda_backend(const CompileTarget& target, const CompileOptions& options);

}  // namespace aprc::codegen
