// aprc-inject-fault{op=PATTERN}: a testing aid for `aprc verify`. After each op whose name matches,
// the value it computes is perturbed (y = x + silu(x), two ordinary steps every backend has
// kernels for) and the perturbed value takes the op's name, so that a plan compiled with it
// computes something else than its reference IR exactly there, and verify must say so.
#include <string>

#include "aprc/passes/passes.h"
#include "require_expanded.h"
#include "fusion.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace aprc::passes {

#define GEN_PASS_DEF_INJECTFAULT
#include "aprc/passes/Passes.h.inc"

namespace {

using namespace aprc::ir;

// Whether `name` matches `pattern`, where `*` stands for any run of characters.
bool glob_match(llvm::StringRef pattern, llvm::StringRef name) {
  if (pattern.empty()) return name.empty();
  if (pattern.front() == '*') {
    for (size_t i = 0; i <= name.size(); ++i)
      if (glob_match(pattern.drop_front(), name.drop_front(i))) return true;
    return false;
  }
  return !name.empty() && pattern.front() == name.front() && glob_match(pattern.drop_front(), name.drop_front());
}

void names_in(mlir::Location loc, llvm::SmallVectorImpl<llvm::StringRef>& out) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(loc)) out.push_back(name.getName().getValue());
  if (auto fused = mlir::dyn_cast<mlir::FusedLoc>(loc))
    for (mlir::Location inner : fused.getLocations()) names_in(inner, out);
}

// The name the interpreter records result `i` of `op` under (value_name in the schedule builder).
std::string result_name(mlir::Operation* op, unsigned i) {
  if (auto names = op->getAttrOfType<mlir::ArrayAttr>("result_names")) return mlir::cast<mlir::StringAttr>(names[i]).str();
  return op->getNumResults() == 1 ? original_name(op).str() : "";
}

// Gives result `i` of `op` the name `name` (where the interpreter and the schedule builder read it).
void rename_result(mlir::Operation* op, unsigned i, const std::string& name) {
  mlir::MLIRContext* ctx = op->getContext();
  if (auto names = op->getAttrOfType<mlir::ArrayAttr>("result_names")) {
    llvm::SmallVector<mlir::Attribute> renamed(names.begin(), names.end());
    renamed[i] = mlir::StringAttr::get(ctx, name);
    op->setAttr("result_names", mlir::ArrayAttr::get(ctx, renamed));
    return;
  }
  op->setLoc(mlir::NameLoc::get(mlir::StringAttr::get(ctx, name), op->getLoc()));
}

struct InjectFault : impl::InjectFaultBase<InjectFault> {
  using InjectFaultBase::InjectFaultBase;

  void runOnOperation() override {
    if (mlir::failed(require_expanded(getOperation(), getArgument()))) return signalPassFailure();
    if (op.empty()) {
      getOperation().emitError("aprc-inject-fault: no op pattern given (op=PATTERN)");
      return signalPassFailure();
    }
    llvm::SmallVector<std::pair<mlir::Operation*, llvm::SmallVector<unsigned>>> targets;
    getOperation().walk([&](mlir::Operation* o) {
      if (o->getNumResults() == 0 || mlir::isa<WeightRefOp>(o) || !mlir::isa<mlir::func::FuncOp>(o->getParentOp())) return;
      // Results named by the pattern; else every result of an op whose location the pattern names
      // (a norm folded into a fused linear perturbs what the fused op computes).
      llvm::SmallVector<unsigned> results;
      for (unsigned i = 0; i < o->getNumResults(); ++i)
        if (glob_match(op, result_name(o, i))) results.push_back(i);
      if (results.empty()) {
        llvm::SmallVector<llvm::StringRef> names;
        names_in(o->getLoc(), names);
        for (llvm::StringRef n : names)
          if (glob_match(op, n)) {
            for (unsigned i = 0; i < o->getNumResults(); ++i) results.push_back(i);
            break;
          }
      }
      if (!results.empty()) targets.emplace_back(o, std::move(results));
    });
    if (targets.empty()) {
      getOperation().emitError("aprc-inject-fault: no op is named '" + op + "'");
      return signalPassFailure();
    }
    mlir::OpBuilder builder(&getContext());
    for (auto& [o, results] : targets) {
      builder.setInsertionPointAfter(o);
      for (unsigned i : results) {
        mlir::Value x = o->getResult(i);
        const std::string name = result_name(o, i);
        auto loc = [&](const std::string& n) { return mlir::NameLoc::get(builder.getStringAttr(n), o->getLoc()); };
        auto silu = builder.create<SiluOp>(loc(name + ".fault"), x.getType(), x);
        auto sum = builder.create<AddOp>(loc(name), x.getType(), x, silu.getResult());
        x.replaceAllUsesExcept(sum.getResult(), llvm::SmallPtrSet<mlir::Operation*, 2>{silu, sum});
        rename_result(o, i, name + ".unperturbed");
      }
    }
  }
};

}  // namespace
}  // namespace aprc::passes
