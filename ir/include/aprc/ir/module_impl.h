// The MLIR behind aprc::ir::Module (MLIR-heavy: include only where the IR is built or walked).
#pragma once

#include "aprc/ir/module.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

namespace aprc::ir {

struct Module::Impl {
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

// The dialects an aprc module may use: aprc and func (aprc-opt adds arith and tensor).
void register_dialects(mlir::DialectRegistry& registry);

// A fresh Impl with those dialects loaded and no module yet.
std::unique_ptr<Module::Impl> make_module_impl();

inline mlir::ModuleOp mlir_module(const Module& module) { return *module.impl().module; }

}  // namespace aprc::ir
