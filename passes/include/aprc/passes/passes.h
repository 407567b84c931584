// aprc's passes (declared in Passes.td) and pipelines, for the code that builds pass managers:
// aprc-opt, the compile pipeline, the tests. The MLIR-free way to run them is pipeline.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "aprc/formats/layouts.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace aprc::passes {

#define GEN_PASS_DECL
#include "aprc/passes/Passes.h.inc"

// aprc-expand-layers (the builder's compact form -> one op per layer), then the fusions, in the
// order in which each leaves the next its pattern: gate/up into swiglu first (so that the
// shared-input fusion does not take them), then q/k/v, then the norms into the fused linears they
// feed, the residual adds into the projections before them, and rope into the append.
void buildOptimizePipeline(mlir::OpPassManager& pm);

// From the frontend's module (compact or expanded) to what the schedule builder for `backend`
// reads: aprc-expand-layers, the fusions (for Cuda also aprc-fuse-q-rope-into-kv-append), the fp8 cast when `fp8` is given (after the fusions,
// whose fused ops then carry the fp8 activation attribute, and before the layouts, which then lay
// out the fp8 weights), the weight layouts of `backend`, and the memory plan for calls of up to
// `max_tokens` tokens. With `inject_fault`, aprc-inject-fault perturbs the ops it names before the
// fusions (a testing aid for aprc verify).
void buildLoweringPipeline(mlir::OpPassManager& pm, Backend backend, int64_t max_tokens,
                           const CastFp8Options* fp8 = nullptr, const std::string& inject_fault = "");

// Registers every pass and the pipelines aprc-optimize, aprc-lower-cpu and aprc-lower-cuda with
// MLIR's registry (for aprc-opt and textual pipelines). Safe to call more than once.
void registerPassesAndPipelines();

}  // namespace aprc::passes
