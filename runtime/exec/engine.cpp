// Choosing and opening an engine for a plan.
#include "aprc/engine.h"

#include <memory>

#include "aprc/cpu_engine.h"
#include "aprc/cuda/plan_engine.h"
#include "aprc/error.h"
#include "aprc/plan_format.h"
#include "aprc/runtime.h"
#include "cpu/cpu_module.h"

namespace aprc {

std::string default_engine(const Plan& plan) {
  const PlanTarget* cpu = plan.target("cpu");
  if (cpu && !cpu->functions.empty()) return "cpu";
  for (const PlanTarget& t : plan.manifest().targets)
    if (!t.functions.empty()) return t.name;
  throw_bad_input(plan.path() + ": the plan has no functions for any engine");
}

std::unique_ptr<Engine> open_engine(std::shared_ptr<const Plan> plan, std::string_view kind, const EngineOptions& options) {
  if (kind == "cpu") {
    checked_cpu_target(*plan);
    // The module lives as long as the engine: the resolver below holds it.
    std::shared_ptr<CpuModule> module = CpuModule::load(*plan->section(plan_section::kCpuObject),
                                                        plan->path() + ": section " + std::string(plan_section::kCpuObject));
    return open_cpu_engine(std::move(plan), options,
                           [module](const std::string& name) -> CpuKernelFn { return module->find(name); });
  }
  if (kind == "cuda") {
    const PlanTarget* cuda = plan->target("cuda");
    if (!cuda || cuda->functions.empty())
      throw_bad_input(plan->path() + ": the plan has no kernels for the cuda engine (compile with --target cuda)");
    return cuda::open_cuda_engine(std::move(plan), options);
  }
  throw_bad_input("unknown engine '" + std::string(kind) + "' (expected cpu or cuda)");
}

std::unique_ptr<Session> Session::open(const std::string& plan_path, std::string_view engine,
                                       const EngineOptions& options) {
  auto plan = Plan::open(plan_path);
  std::string kind = engine.empty() ? default_engine(*plan) : std::string(engine);
  auto opened = open_engine(plan, kind, options);
  return std::make_unique<Session>(std::move(plan), std::move(opened));
}

}  // namespace aprc
