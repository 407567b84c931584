// The CUDA code generator: CUDA C++ for each kernel of a schedule, compiled by NVRTC (no GPU needed)
// to cubins for the requested architectures plus PTX for newer cards.
//
// Flow: the schedule builder calls assign_cuda_launch on every step of a cuda function (it picks the
// kernel variant, names it, and fills grid/block/shared_bytes); emit_module writes one self-contained
// source for all kernels the steps name (formats/blocks.h and the device library in
// codegen/cuda/device are embedded in it); compile_module turns it into cubins and PTX.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "aprc/cuda/abi.h"
#include "aprc/kernel_spec.h"
#include "aprc/schedule.h"

namespace aprc::cuda {

struct KernelRef {
  KernelSpec spec;
  Variant variant = Variant::Plain;
  std::string name;
};

// The variant a step of `spec` uses when the step runs at most `max_rows` rows (its first scalar).
Variant choose_variant(const KernelSpec& spec, int64_t max_rows);

// A readable, unique C identifier for (spec, variant).
std::string kernel_name(const KernelSpec& spec, Variant variant);

// Fills step.kernel, grid, grid_divisor, block and shared_bytes for a step of a function whose calls
// have at most `max_tokens` tokens. The step's first scalar (if any) is its row count; otherwise T.
void assign_cuda_launch(Step& step, int64_t max_tokens);

// Joins adjacent steps of a function (after assign_cuda_launch on each) where one kernel can do the
// work of two: in a decode function (max_tokens 1), rope_qk_kv_append followed by the attention on
// its q and cache becomes one Attention step with KernelSpec::rope (args q, cache_k, cache_v, out,
// k, v), which writes every value the two wrote.
void fuse_decode_steps(Function& f);

// The distinct kernels that the steps name (after assign_cuda_launch).
std::vector<KernelRef> kernels_of(const std::vector<Function>& functions);

// A hand-written kernel in place of a generated one (aprc compile --override-kernel NAME=FILE.cu):
// CUDA C++ from `file` that defines the kernel NAME with the generated kernel's parameters (and may
// define device functions of its own). It is spliced into the module where the generated kernel
// would be, after the device library (formats/blocks.h, codegen/cuda/device: no #include needed),
// the generated kernel's tables and its declaration (so that NVRTC refuses a kernel whose parameters
// differ), between the lines "// ---- hand-written kernel NAME (FILE) ----" and "// ---- end of
// hand-written kernel NAME ----", with #line directives so that compiler messages and line info name
// `file` and its lines.
struct KernelOverride {
  std::string file;
  std::string text;
};
using KernelOverrides = std::map<std::string, KernelOverride>;

// The whole generated source for these kernels (deduplicated by name), with `overrides` (by kernel
// name; each must name one of `kernels`, else Error(BadInput) naming its file) in place of theirs.
std::string emit_module(const std::vector<KernelRef>& kernels, const KernelOverrides& overrides = {});

struct CompileOptions {
  std::vector<int> archs{90};  // cubins for sm_XX; 80, 86, 89 and 90 are accepted
  bool ptx = true;             // also PTX for compute_(lowest arch), JIT-compiled on newer cards
  bool lineinfo = true;
  bool ptxas_verbose = false;  // registers / spills per kernel into `log`
  // Hand-written kernels in the source (emit_module's `overrides`): a compilation that fails in one
  // of their files, or a cubin without one of their kernels, is Error(BadInput) naming the file.
  KernelOverrides overrides;
};

struct CompiledModule {
  std::string source;
  std::vector<std::pair<int, std::vector<uint8_t>>> cubins;  // (arch, cubin)
  int ptx_arch = 0;                                            // 0 when no PTX
  std::string ptx;
  std::string log;  // NVRTC's log (warnings, ptxas info)
};

// Compiles with NVRTC; throws aprc::Error (Internal) with NVRTC's log when compilation fails (BadInput
// when it fails in a hand-written kernel's file).
CompiledModule compile_module(const std::string& source, const CompileOptions& options);

// The embedded device library text (formats/blocks.h + codegen/cuda/device/*.cuh), for tests.
const std::string& device_library_source();

}  // namespace aprc::cuda

namespace aprc {
class PlanWriter;
struct PlanTarget;
}  // namespace aprc

namespace aprc::cuda {

// Adds a cuda target's kernels to a plan: emits and compiles the module for every kernel the steps of
// target.functions name (the schedule builder ran assign_cuda_launch on them; options.overrides in
// place of generated ones), writes the sections cuda.cubin.sm_XX (one per arch), cuda.ptx and
// cuda.source, sets target.cuda_archs and has_ptx, and puts every kernel in target.kernels with
// PlanKernel::info {"sm_XX": {"spill_store_bytes", "spill_load_bytes"}} per cubin (from ptxas -v:
// the cubin itself does not say) and, for a hand-written one, "override": its file.
CompiledModule write_cuda_target(PlanWriter& writer, PlanTarget& target, const CompileOptions& options);

}  // namespace aprc::cuda
