// Helpers of the aprc compile tests: temporary plan files, and logits against the interpreter.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "aprc/passes/pipeline.h"
#include "logits_compare.h"

namespace aprc::testing {

// A plan file under the test's temporary directory, removed afterwards; the process id in its name
// keeps two test runs at once (two build trees, ctest -j) off each other's files.
struct TempPlan {
  std::filesystem::path path;
  explicit TempPlan(const std::string& name)
      : path(std::filesystem::path(::testing::TempDir()) / (name + "-" + std::to_string(::getpid()) + ".plan")) {}
  ~TempPlan() { std::filesystem::remove(path); }
};

// `got`: the logits of every position of `ids` ([ids.size()][vocab]); the largest per-position error
// against the interpreter running the model's module (after `weight_pipeline`, as a compile ran it).
inline double error_vs_interpreter(const std::vector<float>& got, const Model& model, const std::vector<int32_t>& ids,
                                   const std::string& weight_pipeline = "") {
  ir::Module module = ir::build_module(model);
  if (!weight_pipeline.empty()) passes::run_pipeline(module, weight_pipeline);
  const reference::ModelWeights weights(model);
  reference::Interpreter interp(module, weights);
  const reference::Activation want = interp.run("prefill", ids, 0);
  EXPECT_EQ(got.size(), want.data.size());
  if (got.size() != want.data.size()) return INFINITY;
  double worst = 0;
  for (int64_t t = 0; t < want.rows; ++t) worst = std::max(worst, row_error(&got[t * want.cols], want.row(t), want.cols));
  return worst;
}

}  // namespace aprc::testing
