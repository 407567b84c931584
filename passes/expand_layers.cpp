// aprc-expand-layers: the IR builder's compact form -> one op per layer (ir/expand_layers.cpp does
// the work; the builder calls it too).
#include "aprc/ir/expand_layers.h"
#include "aprc/passes/passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_EXPANDLAYERS
#include "aprc/passes/Passes.h.inc"

namespace {

struct ExpandLayers : impl::ExpandLayersBase<ExpandLayers> {
  void runOnOperation() override {
    if (mlir::failed(ir::expand_layers(getOperation()))) signalPassFailure();
  }
};

}  // namespace

}  // namespace aprc::passes
