// aprc-opt: mlir-opt with the aprc dialect (and func, arith, tensor) and the pass registry, so that
// every pass registered here can be run on aprc IR from the command line and from lit tests.
#include "aprc/ir/module_impl.h"
#include "aprc/passes/passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char** argv) {
  mlir::DialectRegistry registry;
  aprc::ir::register_dialects(registry);
  registry.insert<mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();
  // MLIR's generic passes (canonicalize, cse, symbol-dce, ...), then aprc's passes and pipelines.
  mlir::registerTransformsPasses();
  aprc::passes::registerPassesAndPipelines();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "aprc-opt: parse, verify, transform and print aprc IR\n", registry));
}
