// The IR builder: the canonical Model -> an aprc module with @prefill, @prefill_last and @decode
// (docs/design.md). Weights become aprc.weight symbols naming their tensors; no data is copied.
#pragma once

#include "aprc/ir/module.h"
#include "aprc/model.h"

namespace aprc::ir {

// Throws Error(BadInput) naming the model file when a tensor's dtype or shape cannot be expressed
// (an encoding aprc has no kernels for, or a shape that disagrees with the config).
Module build_module(const Model& model);

}  // namespace aprc::ir
