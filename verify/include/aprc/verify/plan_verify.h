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

// Engines that cannot be opened here (no GPU, no code for them in the plan) are skipped with the
// reason. A plan without a reference IR, or whose weights no longer hold the reference's values
// (cast to fp8) without `model_path`, is Error(BadInput) naming the plan.
Verification verify_plan(const std::string& plan_path, std::span<const int32_t> prompt, const PlanVerifyOptions& options,
                         const Progress& progress = {});

}  // namespace aprc::verify
