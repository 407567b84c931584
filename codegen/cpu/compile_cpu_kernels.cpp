#include <algorithm>
#include <chrono>
#include <map>

#include "aprc/codegen/cpu_codegen.h"
#include "aprc/error.h"
#include "kernels.h"
#include "lowering.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/raw_ostream.h"

namespace aprc {
namespace {

// Swaps the generated func.func @name for the one in `o` (same type), with the other functions
// `o` defines (private helpers), so that the rest of the lowering treats it as any kernel.
void replace_kernel(mlir::ModuleOp module, const std::string& name, const CpuKernelOverride& o) {
  mlir::MLIRContext* ctx = module.getContext();
  auto generated = module.lookupSymbol<mlir::func::FuncOp>(name);
  if (!generated) throw_bad_input(o.file + ": overrides kernel '" + name + "', which the cpu target does not have");
  std::string diag;
  mlir::ScopedDiagnosticHandler handler(ctx, [&](mlir::Diagnostic& d) {
    if (diag.empty()) diag = d.str();
    return mlir::success();
  });
  mlir::ParserConfig config(ctx, /*verifyAfterParse=*/true);
  mlir::OwningOpRef<mlir::ModuleOp> parsed = mlir::parseSourceString<mlir::ModuleOp>(o.text, config, o.file);
  if (!parsed) throw_bad_input(o.file + ": not valid MLIR for a CPU kernel: " + diag);
  auto replacement = parsed->lookupSymbol<mlir::func::FuncOp>(name);
  if (!replacement) throw_bad_input(o.file + ": defines no func.func @" + name);
  std::string want, got;
  llvm::raw_string_ostream(want) << generated.getFunctionType();
  llvm::raw_string_ostream(got) << replacement.getFunctionType();
  if (want != got) throw_bad_input(o.file + ": @" + name + " has type " + got + ", the kernel's is " + want);
  mlir::OpBuilder builder(ctx);
  builder.setInsertionPoint(generated);
  for (mlir::Operation& op : parsed->getBody()->getOperations()) {
    auto fn = mlir::dyn_cast<mlir::func::FuncOp>(op);
    if (!fn) throw_bad_input(o.file + ": holds something other than functions (" + op.getName().getStringRef().str() + ")");
    if (fn != replacement && module.lookupSymbol(fn.getSymName()))
      throw_bad_input(o.file + ": helper @" + fn.getSymName().str() + " has the name of a generated kernel");
    builder.clone(op);
  }
  generated.erase();
}

}  // namespace

std::vector<uint8_t> compile_cpu_kernels(const std::vector<KernelSpec>& specs, const CpuTarget& target,
                                         Progress* progress, const CpuCompileOptions& options) {
  CpuCompileStats local_stats;
  CpuCompileStats& stats = options.stats ? *options.stats : local_stats;
  stats = CpuCompileStats{};

  // Equal specs share one kernel; equal names must mean equal specs.
  std::map<std::string, const KernelSpec*> by_name;
  std::vector<const KernelSpec*> unique;
  for (const KernelSpec& s : specs) {
    auto [it, fresh] = by_name.emplace(s.name(), &s);
    if (fresh) unique.push_back(&s);
    else if (!(*it->second == s)) throw_internal("cpu codegen: two different kernels are both named " + it->first);
  }
  stats.kernels = int(unique.size());

  auto t0 = std::chrono::steady_clock::now();
  mlir::DialectRegistry registry;
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect, mlir::LLVM::LLVMDialect,
                  mlir::math::MathDialect, mlir::memref::MemRefDialect, mlir::scf::SCFDialect,
                  mlir::vector::VectorDialect>();
  mlir::Location loc = mlir::UnknownLoc::get(&ctx);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc, llvm::StringRef("aprc_cpu_kernels"));
  cpu::KB kb(&ctx, loc);
  auto has = [&](const char* f) { return std::find(target.features.begin(), target.features.end(), f) != target.features.end(); };
  kb.has_vnni = has("avx512vnni") && has("avx512bw") && has("avx512f");
  kb.has_bf16 = has("avx512bf16") && has("avx512vbmi") && has("avx512bw") && has("avx512f");
  for (size_t i = 0; i < unique.size(); ++i) {
    const KernelSpec& s = *unique[i];
    kb.b.setInsertionPointToEnd(module->getBody());
    switch (s.kind) {
      case KernelKind::Embedding:
      case KernelKind::RmsNorm:
      case KernelKind::Silu:
      case KernelKind::Mul:
      case KernelKind::Add:
        cpu::gen_elementwise(kb, *module, s);
        break;
      case KernelKind::Rope:
      case KernelKind::KvAppend:
      case KernelKind::Attention:
        cpu::gen_attention(kb, *module, s);
        break;
      case KernelKind::Linear:
        cpu::gen_linear(kb, *module, s);
        break;
    }
    report(progress, "cpu kernels: generate", int64_t(i + 1), int64_t(unique.size()));
  }
  for (const auto& [name, o] : options.overrides) replace_kernel(*module, name, o);
  {
    std::string diag;
    mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic& d) {
      if (diag.empty()) diag = d.str();
      return mlir::success();
    });
    if (mlir::failed(mlir::verify(*module))) throw_internal("cpu codegen: generated invalid MLIR: " + diag);
  }
  if (options.mlir_out) {
    llvm::raw_string_ostream os(*options.mlir_out);
    module->print(os);
  }
  stats.generate_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<uint8_t> object = cpu::lower_to_object(*module, target, stats, progress);
  t0 = std::chrono::steady_clock::now();
  report(progress, "cpu kernels: link", 0, 1);
  std::vector<uint8_t> so = cpu::link_shared_object(object);
  stats.link_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report(progress, "cpu kernels: link", 1, 1);
  return so;
}

}  // namespace aprc
