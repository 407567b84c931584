// The back half of CPU code generation: an MLIR module of kernels (scf/vector/arith/memref and the
// llvm-dialect entries) -> LLVM dialect -> LLVM IR -> O3 -> an ELF object -> a shared object.
#pragma once

#include <cstdint>
#include <vector>

#include "aprc/codegen/cpu_codegen.h"

namespace mlir {
class ModuleOp;
}

namespace aprc::cpu {

// Lowers, optimizes and emits `module` as a relocatable object for `target`.
std::vector<uint8_t> lower_to_object(mlir::ModuleOp module, const CpuTarget& target, CpuCompileStats& stats,
                                     Progress* progress);

// Links one relocatable object into a shared object with LLD, in process.
std::vector<uint8_t> link_shared_object(const std::vector<uint8_t>& object);

}  // namespace aprc::cpu
