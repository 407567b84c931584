// aprc-repack-weights: each weight the matrix kernels read gets the layout that the target's
// kernels read (preferred_layout, runtime/core/target_layouts.cpp); the plan writer then stores its
// bytes in that layout, and a kernel is chosen by the weight's type, so no kernel can meet a layout
// it was not written for.
#include "aprc/passes/passes.h"
#include "require_expanded.h"
#include "matrix_operand.h"
#include "aprc/ir/dialect.h"
#include "llvm/ADT/MapVector.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_REPACKWEIGHTS
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

bool is_table_operand(mlir::OpOperand& use) {
  auto embedding = mlir::dyn_cast<EmbeddingOp>(use.getOwner());
  return embedding && &use == &embedding.getTableMutable();
}

// Whether the target's kernels read the weight in its matrix layout: every reader multiplies by it
// or looks rows up in it as an embedding table (the CPU and CUDA embedding kernels read the matrix
// layouts too). A tied model's table and logits matrix are then one weight in one layout, stored once.
bool repackable(llvm::ArrayRef<WeightRefOp> refs) {
  bool read = false;
  for (WeightRefOp ref : refs)
    for (mlir::OpOperand& use : ref->getUses()) {
      if (!is_matrix_operand(use) && !is_table_operand(use)) return false;
      read = true;
    }
  return read;  // read by nothing: no kernel to lay it out for
}

struct RepackWeights : impl::RepackWeightsBase<RepackWeights> {
  using RepackWeightsBase::RepackWeightsBase;

  void runOnOperation() override {
    if (mlir::failed(require_expanded(getOperation(), getArgument()))) return signalPassFailure();
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
      if (!repackable(readers)) continue;
      const auto repacked = WeightType::get(&getContext(), type.getEncoding(), type.getShape(), layout, type.getScales());
      weight.setTypeAttr(mlir::TypeAttr::get(repacked));
      for (WeightRefOp ref : readers) ref.getResult().setType(repacked);
    }
  }
};

}  // namespace
}  // namespace aprc::passes
