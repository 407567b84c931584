// The cuda target's sections of a plan (plan_format.h names them) and its kernel table.
#include <map>

#include "aprc/codegen/cuda.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"
#include "aprc/verify/cubin_info.h"

namespace aprc::cuda {

CompiledModule write_cuda_target(PlanWriter& writer, PlanTarget& target, const CompileOptions& options) {
  const std::vector<KernelRef> kernels = kernels_of(target.functions);
  CompileOptions o = options;
  o.ptxas_verbose = true;  // the spill bytes are only in ptxas's log
  CompiledModule m = compile_module(emit_module(kernels, o.overrides), o);
  target.cuda_archs.clear();
  for (const auto& [arch, cubin] : m.cubins) {
    target.cuda_archs.push_back("sm_" + std::to_string(arch));
    writer.add_section(std::string(plan_section::kCudaCubinPrefix) + target.cuda_archs.back(), cubin);
  }
  target.has_ptx = m.ptx_arch != 0;
  if (target.has_ptx) writer.add_section(std::string(plan_section::kCudaPtx), std::vector<uint8_t>(m.ptx.begin(), m.ptx.end()));
  writer.add_section(std::string(plan_section::kCudaSource), std::vector<uint8_t>(m.source.begin(), m.source.end()));

  // The kernel table: what the cubins' ELF does not hold (aprc kernels reads registers and shared
  // memory from the cubins themselves).
  std::map<std::string, std::map<std::string, verify::KernelResources>> ptxas;  // arch -> kernel -> resources
  for (const std::string& arch : target.cuda_archs) ptxas[arch] = verify::ptxas_resources(m.log, arch);
  for (const KernelRef& k : kernels) {
    PlanKernel entry{k.name, k.spec, nlohmann::json::object()};
    for (const auto& [arch, table] : ptxas)
      if (auto it = table.find(k.name); it != table.end() && it->second.spill_store_bytes >= 0)
        entry.info[arch] = {{"spill_store_bytes", it->second.spill_store_bytes}, {"spill_load_bytes", it->second.spill_load_bytes}};
    if (auto it = o.overrides.find(k.name); it != o.overrides.end()) entry.info["override"] = it->second.file;
    if (!target.kernel(k.name)) target.kernels.push_back(std::move(entry));
  }
  return m;
}

}  // namespace aprc::cuda
