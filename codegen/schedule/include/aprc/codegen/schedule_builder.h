// The schedule builder: a module lowered for one backend (aprc-lower-cpu / aprc-lower-cuda, which
// fused its ops, laid out its weights and planned its memory) becomes the plan's schedules
// (aprc/schedule.h): one Step per op that computes, with its KernelSpec (kernel_spec.h), its
// arguments bound to the memory plan's arena offsets, the weights table, the KV caches, the call's
// ids and logits, the scalars {T, pos}, the CPU parallel extent and grain, and the names of the
// original ops whose values its outputs hold (for aprc verify). MLIR-free header.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aprc/plan.h"
#include "aprc/schedule.h"

namespace aprc::ir {
class Module;
}

namespace aprc::codegen {

// The weights the module declares, in declaration order, as weights-table entries (name = the IR
// symbol, source = the model tensor; offset and bytes are the plan writer's to fill).
std::vector<PlanWeight> declared_weights(const ir::Module& module);

// The KV cache of the module's aprc.kv_cache declarations, one per layer in declaration order (the
// index a CacheK / CacheV argument names); f32 entries. BadInput when they differ in shape.
KvCacheGeometry kv_cache_geometry(const ir::Module& module);

struct ScheduleOptions {
  // The weights-table index of each weight symbol.
  std::function<int64_t(const std::string& symbol)> weight_index;
  // Called on every step once it is bound, for what the backend decides: the kernel's name (CPU:
  // KernelSpec::name(); CUDA: aprc::cuda::assign_cuda_launch, which also picks the variant, grid
  // and block). The CPU extent and grain are set before.
  std::function<void(Step& step, int64_t max_tokens)> finish_step;
};

// One Function per func.func of the lowered module, in module order. A function that was not
// memory-planned, or an op no kernel implements, is Error(Internal) naming it.
std::vector<Function> build_schedules(const ir::Module& lowered, const ScheduleOptions& options);

}  // namespace aprc::codegen
