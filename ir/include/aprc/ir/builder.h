// The IR builder: the canonical Model -> an aprc module with @prefill, @prefill_last and @decode
// (docs/design.md). Weights become aprc.weight symbols naming their tensors; no data is copied.
#pragma once

#include "aprc/ir/module.h"
#include "aprc/model.h"

namespace aprc::ir {

// The compact form (what `aprc compile --emit ir` prints): one private layer function per group of
// decoder layers with equal weight types, run by one aprc.decoder_layers per function; the weights
// of a layer function are aprc.layer_weight symbols, the caches one aprc.layer_kv_cache. Its size
// grows with the number of distinct layers, not with the number of layers.
//
// Throws Error(BadInput) naming the model file when a tensor's dtype or shape cannot be expressed
// (an encoding aprc has no kernels for, or a shape that disagrees with the config).
Module build_compact_module(const Model& model);

// The compact form expanded (aprc-expand-layers): one aprc.weight per tensor, one aprc.kv_cache per
// layer and every op of every layer named `layers.N.<op>`: what the interpreter, the passes, verify
// and the plan's reference IR read. Throws as build_compact_module.
Module build_module(const Model& model);

}  // namespace aprc::ir
