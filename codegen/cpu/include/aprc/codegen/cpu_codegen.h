// CPU code generation: KernelSpecs -> MLIR (scf/vector/arith/memref) -> LLVM IR -> an object file
// for the target CPU -> a shared object, returned as bytes for the plan. The runtime loads those
// bytes with CpuModule (runtime/cpu/cpu_module.h) and calls each kernel by KernelSpec::name().
// No MLIR or LLVM type appears here, so any part of the compiler may include it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "aprc/cpu_target.h"
#include "aprc/kernel_spec.h"
#include "aprc/progress.h"
#include "aprc/schedule.h"

namespace aprc {

// This machine as LLVM sees it (triple, CPU name), with the features LLVM detects that the
// runtime can also check (aprc/cpu_target.h).
CpuTarget host_cpu_target();

struct CpuCompileStats {
  int kernels = 0;             // unique kernels generated
  double generate_s = 0;       // building the MLIR
  double lower_s = 0;          // MLIR passes down to the LLVM dialect, and translation to LLVM IR
  double optimize_s = 0;       // LLVM O3
  double codegen_s = 0;        // instruction selection and object emission
  double link_s = 0;           // LLD
  size_t object_bytes = 0;
};

// A hand-written kernel that replaces a generated one (aprc compile --override-kernel NAME=FILE):
// `text` is MLIR (scf/vector/arith/memref/math/llvm) holding func.func @NAME with the generated
// function's type, and any private helpers it calls; `file` names it in errors.
struct CpuKernelOverride {
  std::string file;
  std::string text;
};

struct CpuCompileOptions {
  std::string* mlir_out = nullptr;  // when set, receives the generated MLIR before lowering
  CpuCompileStats* stats = nullptr;
  // Kernel name -> its replacement. A name no spec has, a file that does not parse or verify, or a
  // function of another type is Error(BadInput) naming the file.
  std::map<std::string, CpuKernelOverride> overrides;
};

// Builds one shared object holding a kernel for every distinct spec (specs with equal names share
// it). Throws Error(Internal) for a spec the generator cannot build and Error(BadInput) for a
// target this LLVM cannot emit code for.
std::vector<uint8_t> compile_cpu_kernels(const std::vector<KernelSpec>& specs, const CpuTarget& target,
                                         Progress* progress = nullptr, const CpuCompileOptions& options = {});

// What the CPU kernels want of a schedule step (for ScheduleOptions::finish_step of the schedule
// builder): the kernel name (KernelSpec::name()), the int8 option on Linear steps of functions
// that take more than one token (decode never uses it), and Attention chunks of whole kv groups.
struct CpuStepOptions {
  bool int8_activations = false;  // the compile option (recorded in each Linear's spec)
};
void finish_cpu_step(Step& step, int64_t max_tokens, const CpuStepOptions& options);

}  // namespace aprc
