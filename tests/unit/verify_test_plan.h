// A CPU plan of a test model (tests/unit/ir_test_model.h) whose schedule follows the IR builder's
// module op for op and calls the plain test kernels of tests/kernels, with an OutputName for every
// value a step writes (the op names of the module), and the module as its reference IR: what
// `aprc verify` checks, without the compiler. Kernels can be swapped for faulty ones per op.
#pragma once

#include <map>
#include <string>

#include "aprc/cpu_engine.h"
#include "aprc/model.h"

namespace aprc::testing {

struct TestKernelPlanOptions {
  int64_t max_tokens = 8;  // of the prefill function
  int64_t max_context = 64;
  // op name -> kernel name: the step computing that op calls this kernel instead (a name the
  // test's resolver knows).
  std::map<std::string, std::string> kernels;
  bool store_reference_ir = true;
};

// Writes the plan; `module_text` is the builder's module of `model` printed with locations.
void write_test_kernel_plan(const std::string& path, const Model& model, const std::string& module_text,
                            const TestKernelPlanOptions& options = {});

// Resolves the test kernels, and `extra` kernels by name first.
CpuKernelResolver test_kernel_resolver(std::map<std::string, CpuKernelFn> extra = {});

}  // namespace aprc::testing
