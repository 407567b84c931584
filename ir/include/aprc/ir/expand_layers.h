// The compact form of a module (one function per distinct decoder layer, run by
// aprc.decoder_layers) -> one op per layer: layer i's ops named `layers.i.<op>`, reading the
// weights `@layers.i.NAME` and the cache `@layers.i.kv` (docs/design.md, "The IR"). MLIR-heavy;
// the MLIR-free way is build_module (builder.h) or the pass aprc-expand-layers.
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace aprc::ir {

// Inlines every aprc.decoder_layers and replaces the layer declarations by per-layer ones; a
// module without them is left as it is. Errors are emitted as diagnostics.
mlir::LogicalResult expand_layers(mlir::ModuleOp module);

}  // namespace aprc::ir
