// aprc-fold-norm-into-linear: an RMSNorm read only by projections becomes their prologue, so that
// the normalized activations are never written to memory.
#include "aprc/passes/passes.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_FOLDNORMINTOLINEAR
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// Whether `use` reads the norm as the input of a linear, or of a fused_linear that has no norm yet.
bool takes_a_prologue(mlir::OpOperand& use) {
  mlir::Operation* user = use.getOwner();
  if (auto linear = mlir::dyn_cast<LinearOp>(user)) return &use == &linear.getInputMutable();
  if (auto fused = mlir::dyn_cast<FusedLinearOp>(user))
    return !fused.getNorm() && &use == &fused.getInputMutable();
  return false;
}

// rms_norm(x, gamma) whose every user is a projection of it as input.
struct RmsNormFeedingProjections : mlir::OpRewritePattern<RmsNormOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(RmsNormOp norm, mlir::PatternRewriter& rewriter) const override {
    if (norm->use_empty() || !llvm::all_of(norm->getUses(), takes_a_prologue))
      return rewriter.notifyMatchFailure(norm, "some user is not a projection that can normalize its input");
    const llvm::SmallVector<mlir::Operation*> users(norm->getUsers().begin(), norm->getUsers().end());
    for (mlir::Operation* user : users) {
      FusedLinearParts parts = mlir::isa<LinearOp>(user) ? parts_of(mlir::cast<LinearOp>(user))
                                                         : parts_of(mlir::cast<FusedLinearOp>(user));
      parts.input = norm.getInput();
      parts.norm = norm.getGamma();
      parts.eps = norm.getEpsAttr();
      parts.locs.push_back(norm.getLoc());
      rewriter.setInsertionPoint(user);
      rewriter.replaceOp(user, build_fused_linear(rewriter, parts)->getResults());
    }
    rewriter.eraseOp(norm);
    return mlir::success();
  }
};

struct FoldNormIntoLinear : impl::FoldNormIntoLinearBase<FoldNormIntoLinear> {
  void runOnOperation() override {
    if (mlir::failed(apply_until_fixpoint<RmsNormFeedingProjections>(getOperation()))) signalPassFailure();
  }
};

}  // namespace
}  // namespace aprc::passes
