// `aprc verify PLAN`: the plan's reference IR run by the interpreter (on the plan's weights, or on
// the model file's) against each of the plan's engines that this machine can open.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/engine.h"
#include "aprc/verify/verify.h"

namespace aprc::verify {

struct PlanVerifyOptions {
  VerifyOptions verify;
  std::vector<std::string> engines;  // "cpu", "cuda"; empty: every target the plan has
  EngineOptions engine;              // threads, device (the context is what the check needs)
  std::string model_path;            // the reference's weights from this model file, not the plan
  // Runs recorded by `aprc record` (value_dump.h), compared as candidates too: the prompt must be
  // theirs, and the decode steps take their tokens.
  std::vector<std::string> recorded;
  // Opens an engine: open_engine for `aprc verify`; tests pass one that resolves test kernels.
  std::function<std::unique_ptr<Engine>(std::shared_ptr<const Plan>, std::string_view kind, const EngineOptions&)> open;
};

// The tolerance a plan is held to when none is asked for: VerifyOptions' 1e-3 where every kernel
// computes in f32; more where kernels round activations, since an ulp of difference between two
// engines at a rounding boundary moves a value by a rounding step, which the layers after carry on:
//   - per-token fp8 activations (two e4m3 terms, steps of 2^-8 of a value): 1e-2, measured up to
//     2.1e-3 (fp8_fixture_bounds.h; issue 6 holds the cuda and cpu plans to 1e-2);
//   - int8 activations per 32 columns (KernelSpec::int8_activations): 5e-2, measured up to 2.8e-2
//     on the GGUF fixture's four random layers.
// A layout or indexing bug moves values by their own size, far above either.
double default_tolerance(const PlanManifest& plan);

// Engines that cannot be opened here (no GPU, no code for them in the plan) are skipped with the
// reason. A plan without a reference IR, or whose weights no longer hold the reference's values
// (cast to fp8) without `model_path`, is Error(BadInput) naming the plan.
Verification verify_plan(const std::string& plan_path, std::span<const int32_t> prompt, const PlanVerifyOptions& options,
                         const Progress& progress = {});

}  // namespace aprc::verify
