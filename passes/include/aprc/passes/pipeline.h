// Running aprc's passes on a module without touching MLIR: a textual pipeline, as aprc-opt takes it
// ("aprc-optimize", "func.func(aprc-fuse-rope-kv-append)", "aprc-lower-cpu{max-tokens=256}").
#pragma once

#include <string_view>

#include "aprc/ir/module.h"

namespace aprc::passes {

// Runs `pipeline` on `module` (passes anchored on functions nest implicitly). A pipeline that does
// not parse is Error(BadInput) naming it; a pass that fails is Error(Internal) with its diagnostics.
void run_pipeline(ir::Module& module, std::string_view pipeline);

}  // namespace aprc::passes
