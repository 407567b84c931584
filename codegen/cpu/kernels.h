// The kernel generators: each writes one KernelSpec as a function with the CPU kernel ABI into an
// MLIR module (scf/vector/arith/memref). One file per family.
#pragma once

#include "aprc/kernel_spec.h"
#include "kernel_builder.h"

namespace aprc::cpu {

// Embedding, RmsNorm, Silu, Mul, Add.
void gen_elementwise(KB& kb, mlir::ModuleOp module, const KernelSpec& spec);
// Rope, KvAppend, Attention.
void gen_attention(KB& kb, mlir::ModuleOp module, const KernelSpec& spec);
// Linear.
void gen_linear(KB& kb, mlir::ModuleOp module, const KernelSpec& spec);

// Loops over [lo, hi) in steps of 16 lanes, with a masked last step when (hi - lo) % 16 != 0:
// body(i, mask) where mask is null for full steps. lo and hi are index values.
void for_lanes16(KB& kb, Value lo, Value hi, const std::function<void(Value i, Value mask)>& body);
// The same, carrying values from step to step: body(i, mask, carried) returns the new ones.
Values for_lanes16(KB& kb, Value lo, Value hi, mlir::ValueRange init,
                   const std::function<Values(Value i, Value mask, mlir::ValueRange carried)>& body);

}  // namespace aprc::cpu
