// Running aprc's passes on a module without touching MLIR: a textual pipeline, as aprc-opt takes it
// ("aprc-optimize", "func.func(aprc-fuse-rope-kv-append)", "aprc-lower-cpu{max-tokens=256}").
#pragma once

#include <string_view>

#include "aprc/ir/module.h"

namespace aprc::passes {

struct PipelineOptions {
  // The IR after every pass, to stderr, as mlir-opt --mlir-print-ir-after-all prints it (passes
  // then run one function at a time, so that the dumps come in order).
  bool print_ir_after_all = false;
  // The time of every pass, to stderr when the pipeline is done, as mlir-opt --mlir-timing.
  bool timing = false;
};

// Runs `pipeline` on `module` (passes anchored on functions nest implicitly). A pipeline that does
// not parse is Error(BadInput) naming it; a pass that fails is Error(Internal) with its diagnostics.
void run_pipeline(ir::Module& module, std::string_view pipeline, const PipelineOptions& options = {});

}  // namespace aprc::passes
