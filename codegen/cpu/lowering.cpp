#include "lowering.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "aprc/error.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"

namespace aprc::cpu {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void lower_to_llvm_dialect(mlir::ModuleOp module) {
  mlir::PassManager pm(module.getContext());
  pm.addPass(mlir::createConvertSCFToCFPass());
  mlir::ConvertVectorToLLVMPassOptions vopts;
  vopts.reassociateFPReductions = true;  // tree sums for vector.reduction
  pm.addPass(mlir::createConvertVectorToLLVMPass(vopts));
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  pm.addPass(mlir::createConvertFuncToLLVMPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
  pm.addPass(mlir::createCanonicalizerPass());
  std::string diag;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic& d) {
    if (diag.empty()) diag = d.str();
    return mlir::success();
  });
  if (mlir::failed(pm.run(module))) throw_internal("cpu codegen: lowering to the LLVM dialect failed: " + diag);
}

// The feature string: the generic x86-64 baseline (the CPU name passed to LLVM) plus exactly the
// target's features and what they imply, so nothing the host CPU's name implies slips in unchecked.
std::string feature_string(const CpuTarget& target) {
  std::string s;
  for (const auto& f : target.features) s += (s.empty() ? "+" : ",+") + f;
  return s;
}

std::unique_ptr<llvm::TargetMachine> make_target_machine(const CpuTarget& target) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(target.triple, err);
  if (!t) throw_bad_input("cpu target '" + target.triple + "': " + err);
  llvm::TargetOptions opts;
  std::unique_ptr<llvm::TargetMachine> tm(t->createTargetMachine(
      target.triple, "x86-64", feature_string(target), opts, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!tm) throw_bad_input("cpu target '" + target.triple + "': LLVM cannot emit code for it");
  return tm;
}

}  // namespace

std::vector<uint8_t> lower_to_object(mlir::ModuleOp module, const CpuTarget& target, CpuCompileStats& stats,
                                     Progress* progress) {
  auto t0 = std::chrono::steady_clock::now();
  report(progress, "cpu kernels: lower", 0, 1);
  lower_to_llvm_dialect(module);
  llvm::LLVMContext llvm_ctx;
  std::unique_ptr<llvm::Module> m = mlir::translateModuleToLLVMIR(module, llvm_ctx, "aprc_cpu_kernels");
  if (!m) throw_internal("cpu codegen: translation to LLVM IR failed");
  stats.lower_s = seconds_since(t0);

  auto tm = make_target_machine(target);
  m->setDataLayout(tm->createDataLayout());
  m->setTargetTriple(target.triple);
  // The CPU name tunes scheduling only (the features above decide the instructions). Kernels use
  // 512-bit vectors explicitly: keep them whole even where the CPU model prefers 256 bits.
  std::unique_ptr<llvm::MCSubtargetInfo> sti(tm->getTarget().createMCSubtargetInfo(target.triple, "x86-64", ""));
  const bool known_cpu = sti && sti->isCPUStringValid(target.cpu);
  const bool avx512 = std::find(target.features.begin(), target.features.end(), "avx512f") != target.features.end();
  for (llvm::Function& f : *m) {
    if (f.isDeclaration()) continue;
    if (known_cpu) f.addFnAttr("tune-cpu", target.cpu);
    if (avx512) {
      f.addFnAttr("prefer-vector-width", "512");
      f.addFnAttr("min-legal-vector-width", "512");
    }
  }

  t0 = std::chrono::steady_clock::now();
  report(progress, "cpu kernels: optimize", 0, 1);
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*m, mam);
  }
  stats.optimize_s = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  report(progress, "cpu kernels: emit", 0, 1);
  llvm::SmallVector<char, 0> buf;
  {
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
      throw_internal("cpu codegen: LLVM cannot emit an object file for " + target.triple);
    pm.run(*m);
  }
  stats.codegen_s = seconds_since(t0);
  stats.object_bytes = buf.size();
  return std::vector<uint8_t>(buf.begin(), buf.end());
}

}  // namespace aprc::cpu
