// The cuda target's sections of a plan (plan_format.h names them).
#include "aprc/codegen/cuda.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"

namespace aprc::cuda {

CompiledModule write_cuda_target(PlanWriter& writer, PlanTarget& target, const CompileOptions& options) {
  CompiledModule m = compile_module(emit_module(kernels_of(target.functions)), options);
  target.cuda_archs.clear();
  for (const auto& [arch, cubin] : m.cubins) {
    target.cuda_archs.push_back("sm_" + std::to_string(arch));
    writer.add_section(std::string(plan_section::kCudaCubinPrefix) + target.cuda_archs.back(), cubin);
  }
  target.has_ptx = m.ptx_arch != 0;
  if (target.has_ptx) writer.add_section(std::string(plan_section::kCudaPtx), std::vector<uint8_t>(m.ptx.begin(), m.ptx.end()));
  writer.add_section(std::string(plan_section::kCudaSource), std::vector<uint8_t>(m.source.begin(), m.source.end()));
  return m;
}

}  // namespace aprc::cuda
