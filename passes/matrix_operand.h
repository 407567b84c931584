// Which uses of a weight are the matrix of a product (aprc.linear's weight, a fused_linear's
// weights, aprc.logits' weight), as opposed to a table, a gamma or a bias: the passes that change a
// weight's type for its matrix kernels (layouts, fp8) touch only weights read this way.
#pragma once

#include "aprc/ir/dialect.h"

namespace aprc::passes {

inline bool is_matrix_operand(mlir::OpOperand& use) {
  mlir::Operation* user = use.getOwner();
  if (auto linear = mlir::dyn_cast<ir::LinearOp>(user)) return &use == &linear.getWeightMutable();
  if (auto logits = mlir::dyn_cast<ir::LogitsOp>(user)) return &use == &logits.getWeightMutable();
  if (auto fused = mlir::dyn_cast<ir::FusedLinearOp>(user)) {
    const auto [begin, count] = fused.getODSOperandIndexAndLength(2);  // $weights
    return use.getOperandNumber() >= begin && use.getOperandNumber() < begin + count;
  }
  return false;
}

// Whether the weight behind `refs` is read, and only as a matrix.
inline bool only_multiplied(llvm::ArrayRef<ir::WeightRefOp> refs) {
  if (refs.empty()) return false;  // read by nothing: no kernel to lay it out or cast it for
  return llvm::all_of(refs, [](ir::WeightRefOp ref) { return llvm::all_of(ref->getUses(), is_matrix_operand); });
}

}  // namespace aprc::passes
