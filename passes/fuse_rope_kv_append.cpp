// aprc-fuse-rope-kv-append: the rotation of the keys and their append to the cache become one op,
// so that the rotated keys go to the cache as they are computed.
#include "aprc/passes/passes.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

namespace aprc::passes {

#define GEN_PASS_DEF_FUSEROPEKVAPPEND
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// kv_append(rope(k), v, @cache[pos]) where the rope rotates at the append's position by heads of
// the cache's head_dim, and every other reader of the rotated k comes after the append.
struct KvAppendOfRope : mlir::OpRewritePattern<KvAppendOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(KvAppendOp append, mlir::PatternRewriter& rewriter) const override {
    auto rope = append.getK().getDefiningOp<RopeOp>();
    if (!rope || rope.getPos() != append.getPos())
      return rewriter.notifyMatchFailure(append, "k is not rotated at the append's position");
    auto cache = mlir::SymbolTable::lookupNearestSymbolFrom<KvCacheOp>(append, append.getCacheAttr());
    if (!cache || cache.getHeadDim() != rope.getHeadDim())
      return rewriter.notifyMatchFailure(append, "the rope's head_dim is not the cache's");
    for (mlir::Operation* user : rope->getUsers())
      if (user != append && (user->getBlock() != append->getBlock() || !append->isBeforeInBlock(user)))
        return rewriter.notifyMatchFailure(append, "the rotated k is read before the append");

    rewriter.setInsertionPoint(append);
    auto fused = rewriter.create<RopeKvAppendOp>(
        rewriter.getFusedLoc({rope.getLoc(), append.getLoc()}), rope.getType(), rope.getInput(), append.getV(),
        append.getCacheAttr(), append.getPos(), rope.getThetaAttr(),
        rewriter.getArrayAttr({original_name(rope)}));
    rewriter.eraseOp(append);
    rewriter.replaceOp(rope, fused.getResult());
    return mlir::success();
  }
};

struct FuseRopeKvAppend : impl::FuseRopeKvAppendBase<FuseRopeKvAppend> {
  void runOnOperation() override {
    if (mlir::failed(apply_until_fixpoint<KvAppendOfRope>(getOperation()))) signalPassFailure();
  }
};

}  // namespace
}  // namespace aprc::passes
