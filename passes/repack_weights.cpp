// aprc-repack-weights: each weight the matrix kernels read gets the layout that the target's
// kernels read (preferred_layout, runtime/core/target_layouts.cpp); the plan writer then stores its
// bytes in that layout, and a kernel is chosen by the weight's type, so no kernel can meet a layout
// it was not written for.
#include "aprc/passes/passes.h"
#include "aprc/ir/dialect.h"
#include "llvm/ADT/MapVector.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_REPACKWEIGHTS
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// Whether `use` reads a weight as the matrix of a matrix product (not as a table, norm or bias).
bool is_matrix_operand(mlir::OpOperand& use) {
  mlir::Operation* user = use.getOwner();
  if (auto linear = mlir::dyn_cast<LinearOp>(user)) return &use == &linear.getWeightMutable();
  if (auto logits = mlir::dyn_cast<LogitsOp>(user)) return &use == &logits.getWeightMutable();
  if (auto fused = mlir::dyn_cast<FusedLinearOp>(user)) {
    const auto [begin, count] = fused.getODSOperandIndexAndLength(2);  // $weights
    return use.getOperandNumber() >= begin && use.getOperandNumber() < begin + count;
  }
  return false;
}

bool only_multiplied(llvm::ArrayRef<WeightRefOp> refs) {
  if (refs.empty()) return false;  // read by nothing: no kernel to lay it out for
  return llvm::all_of(refs, [](WeightRefOp ref) { return llvm::all_of(ref->getUses(), is_matrix_operand); });
}

struct RepackWeights : impl::RepackWeightsBase<RepackWeights> {
  using RepackWeightsBase::RepackWeightsBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    llvm::DenseMap<mlir::StringAttr, llvm::SmallVector<WeightRefOp>> refs;
    module.walk([&](WeightRefOp ref) { refs[ref.getWeightAttr().getAttr()].push_back(ref); });

    for (WeightOp weight : module.getOps<WeightOp>()) {
      const WeightType type = weight.getWeightType();
      if (!type.isMatrix()) continue;
      const WeightLayout layout = preferred_layout(target, type.getEncoding());
      if (layout == type.getLayout() || !layout_supports(layout, type.getEncoding()) ||
          !layout_bytes(layout, type.getEncoding(), type.rows(), type.cols(), type.getScales()))
        continue;
      const llvm::SmallVector<WeightRefOp>& readers = refs[weight.getSymNameAttr()];
      if (!only_multiplied(readers)) continue;
      const auto repacked = WeightType::get(&getContext(), type.getEncoding(), type.getShape(), layout, type.getScales());
      weight.setTypeAttr(mlir::TypeAttr::get(repacked));
      for (WeightRefOp ref : readers) ref.getResult().setType(repacked);
    }
  }
};

}  // namespace
}  // namespace aprc::passes
