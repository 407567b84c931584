// The pipelines that chain aprc's passes, their registration, and run_pipeline (pipeline.h).
#include <mutex>

#include "aprc/error.h"
#include "aprc/ir/module_impl.h"
#include "aprc/passes/passes.h"
#include "aprc/passes/pipeline.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassRegistry.h"

namespace aprc::passes {

namespace {
#define GEN_PASS_REGISTRATION
#include "aprc/passes/Passes.h.inc"

struct LoweringPipelineOptions : mlir::PassPipelineOptions<LoweringPipelineOptions> {
  Option<int64_t> max_tokens{*this, "max-tokens",
                             llvm::cl::desc("the most tokens of one call (prefill chunks); sizes the arena"),
                             llvm::cl::init(512)};
  Option<std::string> inject_fault{*this, "inject-fault",
                                   llvm::cl::desc("perturb the ops this pattern names (aprc-inject-fault; for testing verify)"),
                                   llvm::cl::init("")};
};

}  // namespace

namespace {

void addFusions(mlir::OpPassManager& pm) {
  mlir::OpPassManager& fn = pm.nest<mlir::func::FuncOp>();
  fn.addPass(createFuseGateUpSwiGLU());
  fn.addPass(createFuseSharedInputLinears());
  fn.addPass(createFoldNormIntoLinear());
  fn.addPass(createFoldResidualIntoLinear());
  fn.addPass(createFuseRopeKvAppend());
}

}  // namespace

void buildOptimizePipeline(mlir::OpPassManager& pm) {
  pm.addPass(createExpandLayers());
  addFusions(pm);
}

void buildLoweringPipeline(mlir::OpPassManager& pm, Backend backend, int64_t max_tokens, const CastFp8Options* fp8,
                           const std::string& inject_fault) {
  pm.addPass(createExpandLayers());
  // The fault goes in before the fusions, so that the op it names keeps its own value: a fault on
  // layers.2.mlp.down_proj stops that op from fusing with the residual add, and verify can name it.
  if (!inject_fault.empty()) pm.addPass(createInjectFault(InjectFaultOptions{inject_fault}));
  addFusions(pm);
  // One kernel a layer less on the GPU; the CPU's kernels stay as they are (its launches are calls).
  if (backend == Backend::Cuda) pm.nest<mlir::func::FuncOp>().addPass(createFuseQRopeIntoKvAppend());
  if (fp8) pm.addPass(createCastFp8(*fp8));
  pm.addPass(createRepackWeights(RepackWeightsOptions{backend}));
  pm.nest<mlir::func::FuncOp>().addPass(createPlanMemory(PlanMemoryOptions{max_tokens}));
}

void registerPassesAndPipelines() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerAprcPasses();
    mlir::PassPipelineRegistration<>("aprc-optimize",
                                     "aprc-expand-layers, then every fusion of aprc, in order (Passes.td)",
                                     buildOptimizePipeline);
    const auto lowering = [](Backend backend) {
      return [backend](mlir::OpPassManager& pm, const LoweringPipelineOptions& options) {
        buildLoweringPipeline(pm, backend, options.max_tokens, nullptr, options.inject_fault);
      };
    };
    mlir::PassPipelineRegistration<LoweringPipelineOptions>(
        "aprc-lower-cpu", "aprc-optimize, the CPU weight layouts and the memory plan: what the CPU schedule reads",
        lowering(Backend::Cpu));
    mlir::PassPipelineRegistration<LoweringPipelineOptions>(
        "aprc-lower-cuda",
        "aprc-optimize, aprc-fuse-q-rope-into-kv-append, the CUDA weight layouts and the memory plan: what the CUDA schedule reads",
        lowering(Backend::Cuda));
  });
}

void run_pipeline(ir::Module& module, std::string_view pipeline, const PipelineOptions& options) {
  registerPassesAndPipelines();
  mlir::ModuleOp op = ir::mlir_module(module);
  mlir::PassManager pm(op->getContext(), mlir::ModuleOp::getOperationName(), mlir::OpPassManager::Nesting::Implicit);
  if (options.print_ir_after_all) {
    op->getContext()->disableMultithreading();
    pm.enableIRPrinting([](mlir::Pass*, mlir::Operation*) { return false; },
                        [](mlir::Pass*, mlir::Operation*) { return true; }, /*printModuleScope=*/false,
                        /*printAfterOnlyOnChange=*/false);
  }
  if (options.timing) pm.enableTiming();
  std::string errors;
  llvm::raw_string_ostream error_stream(errors);
  if (mlir::failed(mlir::parsePassPipeline(llvm::StringRef(pipeline.data(), pipeline.size()), pm, error_stream)))
    throw_bad_input("pass pipeline '" + std::string(pipeline) + "': " + error_stream.str());

  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(op->getContext(), [&](mlir::Diagnostic& diag) {
    llvm::raw_string_ostream os(diagnostics);
    os << (diagnostics.empty() ? "" : "; ") << diag.getLocation() << ": " << diag.str();
    return mlir::success();
  });
  if (mlir::failed(pm.run(op))) throw_internal("pass pipeline '" + std::string(pipeline) + "' failed: " + diagnostics);
}

}  // namespace aprc::passes
