// aprc-fuse-gate-up-swiglu: the MLP's gate and up projections with the SiLU and the product between
// them become one fused_linear whose epilogue computes silu(gate) * up.
#include "aprc/passes/passes.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_FUSEGATEUPSWIGLU
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// mul(silu(gate), up) or mul(up, silu(gate)), where gate and up are projections of one input (same
// norm prologue, biases on both or neither) that nothing else reads, computed by two aprc.linear
// ops or by the two results of one fused_linear.
struct MulOfSiluGateAndUp : mlir::OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(MulOp mul, mlir::PatternRewriter& rewriter) const override {
    for (auto [silu_side, up_side] : {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())}) {
      auto silu = silu_side.getDefiningOp<SiluOp>();
      if (!silu || !silu->hasOneUse() || !silu.getInput().hasOneUse() || !up_side.hasOneUse()) continue;
      const std::optional<Projection> gate = projection_of(silu.getInput());
      const std::optional<Projection> up = projection_of(up_side);
      if (!gate || !up || !same_input(*gate, *up) || !consumed_here(*gate, *up)) continue;

      FusedLinearParts parts;
      parts.add_projection(*gate);
      parts.add_projection(*up);
      parts.epilogue = FusedEpilogue::swiglu;
      parts.result_types.push_back(mul.getType());
      parts.result_names.push_back(original_name(mul));
      parts.locs = {gate->op->getLoc(), up->op->getLoc(), silu.getLoc(), mul.getLoc()};
      rewriter.setInsertionPoint(mul);
      rewriter.replaceOp(mul, build_fused_linear(rewriter, parts)->getResults());
      rewriter.eraseOp(silu);
      rewriter.eraseOp(gate->op);
      if (up->op != gate->op) rewriter.eraseOp(up->op);
      return mlir::success();
    }
    return rewriter.notifyMatchFailure(mul, "not mul(silu(gate), up) of two projections of one input");
  }

  static bool same_input(const Projection& a, const Projection& b) {
    return a.input == b.input && a.norm == b.norm && a.eps == b.eps && bool(a.bias) == bool(b.bias);
  }

  // Every result of the ops computing gate and up is gate or up (each read once, by this pattern).
  static bool consumed_here(const Projection& gate, const Projection& up) {
    if (gate.op == up.op) return gate.index != up.index && gate.op->getNumResults() == 2;
    return gate.op->getNumResults() == 1 && up.op->getNumResults() == 1;
  }
};

struct FuseGateUpSwiGLU : impl::FuseGateUpSwiGLUBase<FuseGateUpSwiGLU> {
  void runOnOperation() override {
    if (mlir::failed(apply_until_fixpoint<MulOfSiluGateAndUp>(getOperation()))) signalPassFailure();
  }
};

}  // namespace
}  // namespace aprc::passes
