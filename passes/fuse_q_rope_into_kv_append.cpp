// aprc-fuse-q-rope-into-kv-append: the rotation of the queries joins the rotation and append of the
// keys of the same layer, so that one kernel does what two did (the CUDA target: each launch costs a
// few microseconds of a decode step, and both rotations need the same angles).
#include "aprc/passes/passes.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

namespace aprc::passes {

#define GEN_PASS_DEF_FUSEQROPEINTOKVAPPEND
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// The cache an op reads or writes, if it is one of the ops that touch a KV cache.
mlir::FlatSymbolRefAttr cache_touched(mlir::Operation* op) {
  if (auto a = mlir::dyn_cast<KvAppendOp>(op)) return a.getCacheAttr();
  if (auto a = mlir::dyn_cast<RopeKvAppendOp>(op)) return a.getCacheAttr();
  if (auto a = mlir::dyn_cast<RopeQkKvAppendOp>(op)) return a.getCacheAttr();
  if (auto a = mlir::dyn_cast<AttentionOp>(op)) return a.getCacheAttr();
  return {};
}

bool defined_before(mlir::Value value, mlir::Operation* point) {
  mlir::Operation* def = value.getDefiningOp();
  if (!def) return value.getParentBlock() == point->getBlock();
  return def->getBlock() == point->getBlock() && def->isBeforeInBlock(point);
}

// The rope of q that an attention on the append's cache, at the append's position, reads directly.
RopeOp rope_of_queries(RopeKvAppendOp append, int64_t head_dim) {
  for (mlir::Operation& op : *append->getBlock()) {
    auto attention = mlir::dyn_cast<AttentionOp>(&op);
    if (!attention || attention.getCacheAttr() != append.getCacheAttr() || attention.getPos() != append.getPos()) continue;
    auto rope = attention.getQ().getDefiningOp<RopeOp>();
    if (rope && rope->getBlock() == append->getBlock() && rope.getPos() == append.getPos() &&
        static_cast<int64_t>(rope.getHeadDim()) == head_dim && rope.getTheta() == append.getTheta())
      return rope;
  }
  return {};
}

// rope(q) read by attention(@cache[pos]) + rope_kv_append(k, v, @cache[pos]) of the same theta ->
// rope_qk_kv_append(q, k, v, @cache[pos]), placed at the earlier of the two.
struct QRopeIntoKvAppend : mlir::OpRewritePattern<RopeKvAppendOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(RopeKvAppendOp append, mlir::PatternRewriter& rewriter) const override {
    auto cache = mlir::SymbolTable::lookupNearestSymbolFrom<KvCacheOp>(append, append.getCacheAttr());
    if (!cache) return rewriter.notifyMatchFailure(append, "no aprc.kv_cache of that name");
    RopeOp rope = rope_of_queries(append, static_cast<int64_t>(cache.getHeadDim()));
    if (!rope) return rewriter.notifyMatchFailure(append, "no attention on the cache reads a rope of q at that position");
    const bool rope_first = rope->isBeforeInBlock(append);
    mlir::Operation* first = rope_first ? rope.getOperation() : append.getOperation();
    mlir::Operation* second = rope_first ? append.getOperation() : rope.getOperation();
    for (mlir::Value operand : second->getOperands())
      if (!defined_before(operand, first))
        return rewriter.notifyMatchFailure(append, "an operand of the later op is computed between the two");
    for (mlir::Operation* op = first->getNextNode(); op != second; op = op->getNextNode())
      if (cache_touched(op) == append.getCacheAttr())
        return rewriter.notifyMatchFailure(append, "another op reads or writes the cache between the two");

    rewriter.setInsertionPoint(first);
    auto fused = rewriter.create<RopeQkKvAppendOp>(
        rewriter.getFusedLoc(rope_first ? llvm::SmallVector<mlir::Location>{rope.getLoc(), append.getLoc()}
                                        : llvm::SmallVector<mlir::Location>{append.getLoc(), rope.getLoc()}),
        rope.getType(), append.getType(), rope.getInput(), append.getK(), append.getV(), append.getCacheAttr(),
        append.getPos(), append.getThetaAttr(),
        rewriter.getArrayAttr({original_name(rope), append.getResultNames()[0]}));
    rewriter.replaceOp(rope, fused.getQResult());
    rewriter.replaceOp(append, fused.getKResult());
    return mlir::success();
  }
};

struct FuseQRopeIntoKvAppend : impl::FuseQRopeIntoKvAppendBase<FuseQRopeIntoKvAppend> {
  void runOnOperation() override {
    if (mlir::failed(apply_until_fixpoint<QRopeIntoKvAppend>(getOperation()))) signalPassFailure();
  }
};

}  // namespace
}  // namespace aprc::passes
