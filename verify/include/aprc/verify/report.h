// `aprc verify`'s output: per engine, a table per layer (op, max abs error, max error relative to
// the tensor's largest magnitude, cosine similarity; the worst of each over every call), the first
// op over tolerance with the kernel that computed it, and a one-line verdict; or all of it as JSON.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aprc/verify/verify.h"

namespace aprc::verify {

// One op's worst numbers over the calls of one engine.
struct OpSummary {
  std::string op;
  int layer = -1;
  TensorError error;
  std::string mismatch;    // a shape mismatch in some call
  std::string worst_call;  // the call with the largest relative error
  bool ok = true;
  // The table it goes in: its layer, or one of these for the ops before and after the layers.
  static constexpr int kBeforeLayers = -1, kAfterLayers = 1 << 30;
  int group = kBeforeLayers;
};

// The ops an engine produced, grouped by layer, in the reference's order within each group.
std::vector<OpSummary> summarize(const EngineCheck& engine, double tolerance);

// The ops the reference computes that `engine` never showed, with the layer number replaced by
// N when every layer misses it: "layers.N.attn_norm", "final_norm".
std::vector<std::string> not_produced(const EngineCheck& engine);

// What went wrong, in one line: "layers.2.mlp_residual in prefill of positions [0, 7): relative
// error 8.1e-01 > 1.0e-03 (...); kernel K (step 37) computes layers.2.mlp.down_proj, layers.2.mlp_residual".
std::string describe_failure(const EngineCheck& engine, double tolerance);

// The one-line verdict: PASS or FAIL with the engines, the first op over tolerance or the worst one.
std::string verdict(const Verification& v);

void print_report(std::FILE* out, const Verification& v);
nlohmann::json report_json(const Verification& v);

}  // namespace aprc::verify
