// aprc::ir::Module: context set-up, parsing (with diagnostics turned into one-line errors) and
// printing.
#include "aprc/ir/module_impl.h"

#include "aprc/error.h"
#include "aprc/ir/dialect.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

namespace aprc::ir {

Module::Module(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Module::Module(Module&&) noexcept = default;
Module& Module::operator=(Module&&) noexcept = default;
Module::~Module() = default;

void register_dialects(mlir::DialectRegistry& registry) {
  registry.insert<AprcDialect, mlir::func::FuncDialect>();
}

std::unique_ptr<Module::Impl> make_module_impl() {
  auto impl = std::make_unique<Module::Impl>();
  mlir::DialectRegistry registry;
  register_dialects(registry);
  impl->context.appendDialectRegistry(registry);
  impl->context.loadAllAvailableDialects();
  return impl;
}

std::string Module::print(bool locations) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::OpPrintingFlags flags;
  if (locations) flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  impl_->module->print(os, flags);
  os << "\n";  // as mlir-opt ends its output
  os.flush();
  return text;
}

namespace {

// "NAME:LINE:COL: message" for a file location; the location's own text otherwise.
std::string describe(mlir::Diagnostic& diag) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (auto file = mlir::dyn_cast<mlir::FileLineColLoc>(diag.getLocation()))
    os << file.getFilename().getValue() << ":" << file.getLine() << ":" << file.getColumn() << ": ";
  else
    os << diag.getLocation() << ": ";
  os << diag.str();
  os.flush();
  return text;
}

}  // namespace

Module parse_module(std::string_view text, const std::string& name) {
  std::unique_ptr<Module::Impl> impl = make_module_impl();
  std::string first_error;
  int errors = 0;
  mlir::ScopedDiagnosticHandler handler(&impl->context, [&](mlir::Diagnostic& diag) {
    if (diag.getSeverity() == mlir::DiagnosticSeverity::Error && errors++ == 0) first_error = describe(diag);
    return mlir::success();
  });
  mlir::ParserConfig config(&impl->context, /*verifyAfterParse=*/true);
  impl->module = mlir::parseSourceString<mlir::ModuleOp>(llvm::StringRef(text.data(), text.size()), config, name);
  if (!impl->module || errors > 0) {
    if (first_error.empty()) first_error = name + ": not a valid aprc module";
    if (errors > 1) first_error += " (and " + std::to_string(errors - 1) + " more errors)";
    throw_bad_input(first_error);
  }
  return Module(std::move(impl));
}

}  // namespace aprc::ir
