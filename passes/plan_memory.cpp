// aprc-plan-memory: every activation of a function gets a byte offset in one arena, sized for the
// largest call (aprc.max_tokens rows); buffers whose live ranges do not overlap share bytes.
//
// Live ranges are op indices in the function's one block, from the op that writes a buffer to the
// last op that reads it (inclusive: an op's operands and results are live together). Results that
// a kernel writes over one of its operands (kernel_spec.h) join that operand's buffer: rope and
// rope_kv_append always, which requires the operand to die there; a residual epilogue when the
// residual dies there. The k and v that a rope_qk_kv_append appends stay live up to the attention
// that reads its rotated q: the CUDA target runs the two in one decode kernel (fuse_decode_steps),
// whose blocks write the attention's result while others may still read k and v. Packing is greedy
// by size: larger buffers first, each into the smallest 64-byte-aligned gap left by the buffers live
// at the same time, else above them all.
#include <algorithm>
#include <limits>

#include "aprc/ir/dialect.h"
#include "aprc/passes/passes.h"
#include "require_expanded.h"
#include "llvm/Support/MathExtras.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc::passes {

#define GEN_PASS_DEF_PLANMEMORY
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;
using mlir::Operation;
using mlir::Value;

constexpr int64_t kAlignment = 64;  // a cache line, and the widest vector load of the CPU kernels

bool is_activation(mlir::Type type) {
  auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.getElementType().isF32();
}

// The operand whose buffer result #`result` of `op` is written over, and whether the kernel must do so.
struct InPlace {
  Value operand;
  bool required = false;
};

InPlace in_place_operand(Operation* op, unsigned result) {
  if (auto rope = mlir::dyn_cast<RopeOp>(op)) return {rope.getInput(), true};
  if (auto fused = mlir::dyn_cast<RopeKvAppendOp>(op)) return {fused.getK(), true};
  if (auto fused = mlir::dyn_cast<RopeQkKvAppendOp>(op)) return {result == 0 ? fused.getQ() : fused.getK(), true};
  if (auto linear = mlir::dyn_cast<FusedLinearOp>(op))
    if (linear.getEpilogue() == FusedEpilogue::residual) return {linear.getResidual(), false};
  return {};
}

// A range of bytes live over ops [first, last]; one per buffer, shared by in-place results.
struct Buffer {
  int64_t bytes = 0;
  unsigned first = 0, last = 0;
  bool output = false;  // the function's result: the caller's output buffer, not the arena
  int64_t offset = 0;
};

class Planner {
 public:
  Planner(mlir::func::FuncOp fn, int64_t max_tokens) : fn_(fn), max_tokens_(max_tokens) {}

  mlir::LogicalResult run() {
    mlir::Block& block = fn_.getBody().front();
    for (mlir::BlockArgument arg : block.getArguments())
      if (is_activation(arg.getType()))
        return fn_.emitOpError() << "aprc-plan-memory: argument #" << arg.getArgNumber()
                                 << " is an activation; activations must be computed in the function";
    unsigned index = 0;
    for (Operation& op : block) index_[&op] = index++;
    for (Value returned : block.getTerminator()->getOperands()) returned_.insert(returned);

    for (Operation& op : block)
      for (Value result : op.getResults())
        if (is_activation(result.getType()) && mlir::failed(assign(&op, result))) return mlir::failure();
    keep_appended_kv_live(block);
    pack();
    annotate(block);
    return mlir::success();
  }

 private:
  mlir::LogicalResult assign(Operation* op, Value result) {
    const unsigned at = index_.lookup(op);
    const InPlace in_place = in_place_operand(op, mlir::cast<mlir::OpResult>(result).getResultNumber());
    if (in_place.operand && is_activation(in_place.operand.getType())) {
      const auto it = buffer_of_.find(in_place.operand);
      const bool dies_here = it != buffer_of_.end() && buffers_[it->second].last == at &&
                             !buffers_[it->second].output;
      if (in_place.required && (!dies_here || returned_.contains(result)))
        return op->emitOpError() << "aprc-plan-memory: writes its result over its operand, which "
                                 << (dies_here ? "is the function's output" : "is read after it or is not in the arena");
      if (dies_here && !returned_.contains(result)) {
        buffer_of_[result] = it->second;
        Buffer& shared = buffers_[it->second];
        shared.last = std::max(shared.last, last_use(result, at));
        shared.bytes = std::max(shared.bytes, bytes_of(result));
        return mlir::success();
      }
    }
    buffer_of_[result] = buffers_.size();
    buffers_.push_back({bytes_of(result), at, last_use(result, at), returned_.contains(result), 0});
    return mlir::success();
  }

  // The index of the last op of the block that reads `value` (or of its def when none does).
  unsigned last_use(Value value, unsigned def) {
    mlir::Block& block = fn_.getBody().front();
    unsigned last = def;
    for (Operation* user : value.getUsers()) last = std::max(last, index_.lookup(block.findAncestorOpInBlock(*user)));
    return last;
  }

  // The buffers of each rope_qk_kv_append's k and v live on to the attentions on its rotated q.
  void keep_appended_kv_live(mlir::Block& block) {
    block.walk([&](RopeQkKvAppendOp append) {
      for (Operation* reader : append.getQResult().getUsers()) {
        if (!mlir::isa<AttentionOp>(reader)) continue;
        const unsigned at = index_.lookup(block.findAncestorOpInBlock(*reader));
        for (Value kv : {append.getK(), append.getV()})
          if (const auto it = buffer_of_.find(kv); it != buffer_of_.end())
            buffers_[it->second].last = std::max(buffers_[it->second].last, at);
      }
    });
  }

  int64_t bytes_of(Value value) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    const int64_t rows = type.isDynamicDim(0) ? max_tokens_ : type.getDimSize(0);
    return rows * type.getDimSize(1) * static_cast<int64_t>(sizeof(float));
  }

  void pack() {
    std::vector<Buffer*> order;
    for (Buffer& b : buffers_)
      if (!b.output) order.push_back(&b);
    std::stable_sort(order.begin(), order.end(), [](const Buffer* a, const Buffer* b) { return a->bytes > b->bytes; });
    std::vector<const Buffer*> placed;
    for (Buffer* b : order) {
      const int64_t size = static_cast<int64_t>(llvm::alignTo(b->bytes, kAlignment));
      std::vector<std::pair<int64_t, int64_t>> taken;  // [begin, end) of the buffers live with b
      for (const Buffer* p : placed)
        if (b->first <= p->last && p->first <= b->last)
          taken.emplace_back(p->offset, p->offset + static_cast<int64_t>(llvm::alignTo(p->bytes, kAlignment)));
      std::sort(taken.begin(), taken.end());
      int64_t cursor = 0, best = -1, best_gap = std::numeric_limits<int64_t>::max();
      for (const auto& [begin, end] : taken) {
        const int64_t gap = begin - cursor;
        if (gap >= size && gap < best_gap) best = cursor, best_gap = gap;
        cursor = std::max(cursor, end);
      }
      b->offset = best >= 0 ? best : cursor;
      arena_bytes_ = std::max(arena_bytes_, b->offset + size);
      placed.push_back(b);
    }
  }

  void annotate(mlir::Block& block) {
    mlir::Builder b(fn_.getContext());
    for (Operation& op : block) {
      llvm::SmallVector<int64_t> offsets;
      for (Value result : op.getResults()) {
        auto it = buffer_of_.find(result);
        if (it == buffer_of_.end()) break;
        const Buffer& buffer = buffers_[it->second];
        offsets.push_back(buffer.output ? AprcDialect::kFunctionOutput : buffer.offset);
      }
      if (!offsets.empty() && offsets.size() == op.getNumResults())
        op.setAttr(AprcDialect::kOffsetsAttrName, b.getDenseI64ArrayAttr(offsets));
    }
    fn_->setAttr(AprcDialect::kMaxTokensAttrName, b.getI64IntegerAttr(max_tokens_));
    fn_->setAttr(AprcDialect::kArenaBytesAttrName, b.getI64IntegerAttr(arena_bytes_));
  }

  mlir::func::FuncOp fn_;
  int64_t max_tokens_;
  llvm::DenseMap<Operation*, unsigned> index_;
  llvm::DenseSet<Value> returned_;
  llvm::DenseMap<Value, size_t> buffer_of_;
  std::vector<Buffer> buffers_;
  int64_t arena_bytes_ = 0;
};

struct PlanMemory : impl::PlanMemoryBase<PlanMemory> {
  using PlanMemoryBase::PlanMemoryBase;

  void runOnOperation() override {
    mlir::func::FuncOp fn = getOperation();
    if (fn.isExternal()) return;
    if (mlir::failed(require_expanded(getOperation(), getArgument()))) return signalPassFailure();
    if (!fn.getBody().hasOneBlock()) {
      fn.emitOpError() << "aprc-plan-memory: needs a function of one block";
      return signalPassFailure();
    }
    const std::optional<int64_t> tokens = max_tokens_of(fn);
    if (!tokens || *tokens < 1) {
      fn.emitOpError() << "aprc-plan-memory: max-tokens must be at least 1";
      return signalPassFailure();
    }
    if (mlir::failed(Planner(fn, *tokens).run())) signalPassFailure();
  }

  // The function's own aprc.max_tokens; else the row count of its ids when that is static (decode
  // takes one token); else the pass option.
  std::optional<int64_t> max_tokens_of(mlir::func::FuncOp fn) const {
    if (auto attr = fn->getAttrOfType<mlir::IntegerAttr>(AprcDialect::kMaxTokensAttrName)) return attr.getInt();
    if (fn.getNumArguments() > 0)
      if (auto ids = mlir::dyn_cast<mlir::RankedTensorType>(fn.getArgument(0).getType()))
        if (ids.getRank() >= 1 && !ids.isDynamicDim(0)) return ids.getDimSize(0);
    return static_cast<int64_t>(maxTokens);
  }
};

}  // namespace
}  // namespace aprc::passes
