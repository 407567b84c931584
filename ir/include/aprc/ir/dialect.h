// The aprc dialect's C++ classes (ops, the weight type, the epilogue enum). MLIR-heavy: include it
// only from the few translation units that build, transform or walk aprc IR. Code that merely
// holds, prints or parses a module uses the MLIR-free "aprc/ir/module.h".
#pragma once

#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "aprc/ir/AprcEnums.h.inc"
#include "aprc/ir/AprcDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "aprc/ir/AprcTypes.h.inc"

#define GET_OP_CLASSES
#include "aprc/ir/AprcOps.h.inc"
