// A recorded run of a plan's engine: every value its steps name (OutputName), and the logits, for
// each call of a prompt and its decode steps. `aprc record` writes one where the engine runs (aprc-rt
// on a GPU host: no compiler there), `aprc verify PLAN --recorded FILE` compares it op by op with the
// reference interpreter where the compiler is. No MLIR here (aprc-rt links it).
//
// File: "APRCVDMP", a u64 (little-endian) length, that many bytes of JSON (the calls, each value's
// name, shape, step, kernel, ops and where its floats start), then the floats, f32 little-endian.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/engine.h"
#include "aprc/plan.h"

namespace aprc::verify {

struct DumpedValue {
  std::string name;  // the original op's name (OutputName::op)
  int64_t rows = 0, cols = 0;
  int64_t step = -1;  // the step that computed it, its kernel and the ops that step computes
  std::string kernel;
  std::vector<std::string> ops;
  std::vector<float> data;  // rows * cols
};

struct DumpedCall {
  std::string function;  // "prefill" or "decode"
  int64_t pos = 0;
  std::vector<int32_t> ids;
  int64_t logits_rows = 0;
  std::vector<float> logits;  // logits_rows * vocab
  std::vector<DumpedValue> values;  // in the order the steps computed them
};

struct ValueDump {
  std::string plan_source;  // the plan's manifest source (the model it was compiled from)
  std::string engine, device;
  int64_t vocab = 0;
  int64_t max_prefill_tokens = 0;  // the prompt went in chunks of this many tokens
  std::vector<int32_t> prompt;
  std::vector<DumpedCall> calls;  // the prefill chunks, then the decode steps
};

// The floats of output `out` of the step `event` shows ([rows, cols], rows from `out.rows`), read
// through the event's buffers; an output that does not fit its buffer is Error(BadInput).
std::vector<float> read_step_output(const StepEvent& event, const OutputName& out, int64_t vocab_size, int64_t& rows);

// Runs `prompt` through `target`'s functions on `engine` (prefill chunks of its "prefill" function's
// max_tokens, then `decode_steps` decode calls, each fed the engine's own greedy token) and records
// every named value and the logits of every call.
ValueDump record_run(Engine& engine, const Plan& plan, const PlanTarget& target, std::span<const int32_t> prompt,
                     int decode_steps, const std::function<void(std::string_view)>& progress = {});

void write_value_dump(const ValueDump& dump, const std::string& path);
// Error(BadInput) naming the file for anything that is not a whole, consistent dump.
ValueDump read_value_dump(const std::string& path);

}  // namespace aprc::verify
