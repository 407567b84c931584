#include <algorithm>
#include <string>

#include "aprc/codegen/cpu_codegen.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/TargetParser/Host.h"

namespace aprc {

CpuTarget host_cpu_target() {
  CpuTarget t;
  t.triple = llvm::sys::getProcessTriple();
  t.cpu = llvm::sys::getHostCPUName().str();
  const auto host = llvm::sys::getHostCPUFeatures();
  for (const char* f : known_cpu_features()) {
    auto it = host.find(f);
    if (it != host.end() && it->second) t.features.push_back(f);
  }
  return t;
}

}  // namespace aprc
