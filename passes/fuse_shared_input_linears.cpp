// aprc-fuse-shared-input-linears: the projections that read one value (q, k and v of a layer's
// normalized input) become one fused_linear, so that the input is read once for all of them.
#include "aprc/passes/passes.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_FUSESHAREDINPUTLINEARS
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// The aprc.linear ops of one block reading the same input as `linear`, with a bias exactly when it
// has one. Fused at the first of them; their weights and biases come from weight_refs, which move
// up there when they come later.
struct LinearsSharingAnInput : mlir::OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(LinearOp linear, mlir::PatternRewriter& rewriter) const override {
    llvm::SmallVector<LinearOp> group;
    for (mlir::Operation* user : linear.getInput().getUsers()) {
      auto other = mlir::dyn_cast<LinearOp>(user);
      if (other && other.getInput() == linear.getInput() && other->getBlock() == linear->getBlock() &&
          bool(other.getBias()) == bool(linear.getBias()) && !llvm::is_contained(group, other))
        group.push_back(other);
    }
    if (group.size() < 2) return rewriter.notifyMatchFailure(linear, "no other linear reads its input");
    llvm::sort(group, [](LinearOp a, LinearOp b) { return a->isBeforeInBlock(b); });

    mlir::Operation* first = group.front();
    llvm::SmallVector<LinearOp> fused;
    for (LinearOp member : group) {
      // Every operand but the shared input must be (made) available at the first linear.
      auto available = [&](mlir::Value v) { return !v || hoist_before(rewriter, v, first); };
      if (member == first || (available(member.getWeight()) && available(member.getBias()))) fused.push_back(member);
    }
    if (fused.size() < 2) return rewriter.notifyMatchFailure(linear, "the other weights are not available early");

    FusedLinearParts parts;
    for (LinearOp member : fused) {
      parts.add_projection(*projection_of(member.getResult()));
      parts.result_types.push_back(member.getType());
      parts.result_names.push_back(original_name(member));
      parts.locs.push_back(member.getLoc());
    }
    rewriter.setInsertionPoint(first);
    FusedLinearOp op = build_fused_linear(rewriter, parts);
    for (auto [member, result] : llvm::zip(fused, op.getResults())) rewriter.replaceOp(member, result);
    return mlir::success();
  }
};

struct FuseSharedInputLinears : impl::FuseSharedInputLinearsBase<FuseSharedInputLinears> {
  void runOnOperation() override {
    if (mlir::failed(apply_until_fixpoint<LinearsSharingAnInput>(getOperation()))) signalPassFailure();
  }
};

}  // namespace
}  // namespace aprc::passes
