// The CPU engine: replays a plan's cpu schedules with the generated kernels, each step's parallel
// extent split across a thread pool. Weights are used in place in the mapped plan.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "aprc/engine.h"

namespace aprc {

// The CPU kernel ABI (docs/design.md).
using CpuKernelFn = void (*)(void* const* args, const int64_t* scalars, int64_t begin, int64_t end);

// Finds a kernel by name (nullptr when there is none). The engine keeps it as long as it lives, so
// it may own the code (a loaded shared object) the kernels are in.
using CpuKernelResolver = std::function<CpuKernelFn(const std::string& name)>;

// Opens the CPU engine with kernels from `resolve` rather than from the plan's shared object: for
// tests, and for tools that swap kernels. open_engine(plan, "cpu") loads the plan's own.
std::unique_ptr<Engine> open_cpu_engine(std::shared_ptr<const Plan> plan, const EngineOptions& options,
                                        CpuKernelResolver resolve);

// The plan's cpu target, refusing (BadInput, naming the plan) a plan without CPU code and one
// built for another architecture or for CPU features this machine lacks.
const PlanTarget& checked_cpu_target(const Plan& plan);

}  // namespace aprc
