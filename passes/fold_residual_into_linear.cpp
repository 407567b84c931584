// aprc-fold-residual-into-linear: the residual add after a projection becomes its epilogue, so that
// the projection's output is added as it is produced instead of being written and read back.
#include "aprc/passes/passes.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_FOLDRESIDUALINTOLINEAR
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// add(r, y) or add(y, r) where y is the only result of a single-weight projection and the add is
// its only reader.
struct AddOfResidualAndProjection : mlir::OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(AddOp add, mlir::PatternRewriter& rewriter) const override {
    for (auto [projected, residual] : {std::pair(add.getRhs(), add.getLhs()), std::pair(add.getLhs(), add.getRhs())}) {
      const std::optional<Projection> p = projection_of(projected);
      if (!p || p->op->getNumResults() != 1 || !projected.hasOneUse()) continue;
      FusedLinearParts parts;
      parts.add_projection(*p);
      parts.residual = residual;
      parts.epilogue = FusedEpilogue::residual;
      parts.result_types.push_back(add.getType());
      parts.result_names.push_back(original_name(add));
      parts.locs = {p->op->getLoc(), add.getLoc()};
      rewriter.setInsertionPoint(add);
      rewriter.replaceOp(add, build_fused_linear(rewriter, parts)->getResults());
      rewriter.eraseOp(p->op);
      return mlir::success();
    }
    return rewriter.notifyMatchFailure(add, "neither side is a projection that only the add reads");
  }
};

struct FoldResidualIntoLinear : impl::FoldResidualIntoLinearBase<FoldResidualIntoLinear> {
  void runOnOperation() override {
    if (mlir::failed(apply_until_fixpoint<AddOfResidualAndProjection>(getOperation()))) signalPassFailure();
  }
};

}  // namespace
}  // namespace aprc::passes
