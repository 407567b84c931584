// `aprc verify`'s core: the same tokens through a reference and through each candidate executor,
// every named value compared as it is computed, and the first op over tolerance found.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/verify/compare.h"
#include "aprc/verify/executor.h"

namespace aprc::verify {

struct VerifyOptions {
  double tolerance = 1e-3;  // on the error relative to each tensor's largest magnitude
  int decode_steps = 4;     // decode calls after the prompt, each fed the reference's greedy token
  // When not empty, the decode calls take these tokens (a recorded run's own greedy choices) instead
  // of the reference's, and there are as many of them as tokens (decode_steps is ignored).
  std::vector<int32_t> decode_tokens;
};

// One call every executor makes: a prefill chunk of the prompt or a decode step.
struct Call {
  std::string function;  // "prefill" or "decode"
  int64_t pos = 0;
  std::vector<int32_t> ids;
  std::string label() const;  // "prefill of positions [0, 11)", "decode at position 12"
};

// One op of one call: the candidate's value against the reference's.
struct OpCheck {
  std::string op;
  TensorError error;
  std::string mismatch;  // when the shapes differ: "[4, 128] where the reference has [4, 256]"
  int64_t step = -1;     // where the candidate computed it (engines)
  std::string kernel;
  std::vector<std::string> ops;  // the original ops that step computes
  bool ok(double tolerance) const { return mismatch.empty() && error.within(tolerance); }
};

struct CallCheck {
  Call call;
  std::vector<OpCheck> ops;          // in the reference's order
  std::vector<std::string> missing;  // reference values the candidate never showed (e.g. a norm folded into a linear)
};

struct EngineCheck {
  std::string engine;
  std::string device;
  std::string skipped;  // why the engine did not run (no GPU, no code for it in the plan); empty when it ran
  std::vector<CallCheck> calls;
  // The first op over tolerance: calls in order, then ops in the reference's order.
  struct Failure {
    size_t call = 0, op = 0;
  };
  std::optional<Failure> failure;
  const OpCheck* failed_op() const { return failure ? &calls[failure->call].ops[failure->op] : nullptr; }
  bool passed() const { return skipped.empty() && !failure; }
};

struct Verification {
  double tolerance = 0;
  std::vector<int32_t> prompt;
  std::vector<Call> calls;
  std::string reference;  // what computed the reference values
  std::vector<EngineCheck> engines;
  // Whether every engine that ran stayed within tolerance (skipped engines neither pass nor fail).
  bool passed() const;
  int engines_run() const;
};

using Progress = std::function<void(std::string_view)>;

// Runs `prompt` (in prefill calls of at most every candidate's max_prefill_tokens) and then
// options.decode_steps decode calls through `reference` and each candidate, in lockstep, and
// compares every value a candidate names with the reference's value of that name in that call.
// Only the reference's values of one call are held at a time.
Verification verify(Executor& reference, std::span<Executor* const> candidates, std::span<const int32_t> prompt,
                    const VerifyOptions& options, const Progress& progress = {});

// The layer an op belongs to ("layers.3.mlp.down_proj": 3), or -1 for ops outside the layers.
int layer_of(std::string_view op);

}  // namespace aprc::verify
