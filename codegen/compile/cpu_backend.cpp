// The cpu target: kernels named by their spec, generated through MLIR for this machine's CPU
// (codegen/cpu), stored as the plan's shared object with the MLIR they came from.
#include <map>

#include "aprc/codegen/cpu_codegen.h"
#include "aprc/error.h"
#include "aprc/plan_format.h"
#include "backend.h"

namespace aprc::codegen {
namespace {

class CpuBackend final : public TargetBackend {
 public:
  explicit CpuBackend(const CompileOptions& options) : options_(options) {}

  std::string lowering_pipeline(int64_t max_tokens) const override {
    return "aprc-lower-cpu{max-tokens=" + std::to_string(max_tokens) + "}";
  }

  void finish_step(Step& step, int64_t max_tokens) override {
    finish_cpu_step(step, max_tokens, CpuStepOptions{options_.int8_activations});
  }

  void generate(PlanTarget& target, PlanWriter& writer, Progress* progress) override {
    std::map<std::string, KernelSpec> distinct;
    for (const Function& f : target.functions)
      for (const Step& s : f.steps) distinct.emplace(s.kernel, s.spec);
    std::vector<KernelSpec> specs;
    for (auto& [name, spec] : distinct) specs.push_back(spec);
    const CpuTarget host = host_cpu_target();
    std::string mlir;
    CpuCompileOptions compile;
    compile.mlir_out = &mlir;
    for (const auto& [name, file] : options_.kernel_overrides) {
      if (!file.ends_with(".mlir")) continue;  // another target's kernel (FILE.cu)
      if (!distinct.count(name))
        throw_bad_input(file + ": overrides kernel '" + name + "', which the cpu target does not have (aprc kernels PLAN lists them)");
      compile.overrides[name] = CpuKernelOverride{file, read_kernel_file(file)};
      target.kernels.push_back(PlanKernel{name, distinct.at(name), {{"override", file}}});
    }
    std::vector<uint8_t> object = compile_cpu_kernels(specs, host, progress, compile);
    writer.add_section(std::string(plan_section::kCpuObject), std::move(object));
    writer.add_section(std::string(plan_section::kCpuMlir), std::vector<uint8_t>(mlir.begin(), mlir.end()));
    target.triple = host.triple;
    target.cpu_name = host.cpu;
    target.features = host.features;
  }

 private:
  const CompileOptions& options_;
};

}  // namespace

std::unique_ptr<TargetBackend> make_cpu_backend(const CompileOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace aprc::codegen
