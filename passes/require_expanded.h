// The passes that read per-layer weight declarations, op names or buffers (casting, layouts, memory
// planning, fault injection) work on the expanded module. On the IR builder's compact form they would
// skip the layer weights without a word, so they refuse it, naming the pass to run first.
#pragma once

#include "aprc/ir/dialect.h"
#include "mlir/IR/SymbolTable.h"

namespace aprc::passes {

inline mlir::LogicalResult require_expanded(mlir::Operation* root, llvm::StringRef pass) {
  mlir::Operation* compact = nullptr;
  root->walk([&](mlir::Operation* op) {
    bool layer_form = mlir::isa<ir::DecoderLayersOp, ir::LayerWeightOp, ir::LayerKvCacheOp>(op);
    if (auto ref = mlir::dyn_cast<ir::WeightRefOp>(op))  // inside a layer function
      layer_form = mlir::isa_and_nonnull<ir::LayerWeightOp>(mlir::SymbolTable::lookupNearestSymbolFrom(op, ref.getWeightAttr()));
    if (!layer_form) return mlir::WalkResult::advance();
    compact = op;
    return mlir::WalkResult::interrupt();
  });
  if (!compact) return mlir::success();
  return compact->emitError() << pass << " needs one op per layer: run aprc-expand-layers first";
}

}  // namespace aprc::passes
