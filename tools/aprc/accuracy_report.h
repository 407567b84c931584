// The accuracy report of `aprc verify MODEL --report`: for one prompt, the logits of the model with
// its weights as stored and with its linear weights cast to fp8 (aprc-cast-fp8), each against the
// f32-dequantized reference (aprc-dequantize-weights) that the reference interpreter computes; each
// run by the interpreter and, when asked, by the stored plan and the fp8 plan compiled for the CPU
// (aprc compile, then the CPU runtime): the largest error at each position relative to that
// position's largest |logit|, and how often the top-1 token agrees. MLIR-free header.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "aprc/interpreter/reference_ops.h"
#include "aprc/model.h"
#include "fp8_options.h"

namespace aprc::verify {

// Logits [T, vocab] against a reference of the same shape.
struct LogitsError {
  std::vector<double> position_error;  // per position: max |got - ref| / max |ref| (inf on NaN)
  int64_t top1_agree = 0;              // positions whose argmax equals the reference's
  double max_error() const;
  double mean_error() const;
  int64_t positions() const { return static_cast<int64_t>(position_error.size()); }
  double top1_fraction() const;
};

LogitsError compare_logits(const reference::Activation& got, const reference::Activation& ref);

struct AccuracyReport {
  struct Row {
    std::string name;      // "stored", "fp8"
    std::string engine;    // "interpreter", "cpu plan"
    std::string encoding;  // "q4_k, q6_k" (the matrix encodings of the module), or Fp8Options::description
    LogitsError error;
  };
  std::string model;
  std::vector<int32_t> ids;
  std::vector<Row> rows;

  nlohmann::json to_json() const;
  std::string to_text() const;
};

// The logits of @prefill on `ids` (every position) of the model's module after `pipeline` ("" for
// the module as built), run by the reference interpreter on the model's weights.
reference::Activation prefill_logits(const Model& model, const std::string& pipeline, std::span<const int32_t> ids);

// The pipeline of the f32-dequantized reference module.
inline constexpr const char* kReferencePipeline = "aprc-dequantize-weights";

struct ReportOptions {
  // Also compile the stored and the fp8 weights into CPU plans (in a temporary directory, removed
  // afterwards) and run them with the CPU runtime.
  bool cpu_plans = false;
  int threads = 0;  // the plans' CPU threads (0: one per core)
};

// Runs @prefill on `ids` for the reference, the stored and the fp8 module (and plans). Bad ids are
// BadInput.
AccuracyReport accuracy_report(const Model& model, std::span<const int32_t> ids, const Fp8Options& fp8,
                               const ReportOptions& options = {});

}  // namespace aprc::verify
