// What `aprc verify` runs the same tokens through: the reference interpreter on a module, or a plan's
// functions on an engine. Each shows the named values it computes (the original ops' names), so that
// they can be compared op by op.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "aprc/engine.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/verify/value_dump.h"

namespace aprc::verify {

// A value an executor computed, under the name of the original op whose value it is.
struct NamedValue {
  std::string name;
  reference::Activation value;
  // Where an engine computed it (unset for the interpreter): the step, its kernel, and the
  // original ops that step computes (Step::ops, or its outputs' names when the plan has none).
  int64_t step = -1;
  std::string kernel;
  std::vector<std::string> ops;
};

using ValueSink = std::function<void(NamedValue&&)>;

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;    // "reference", "cpu", "cuda", ...
  virtual std::string device() const = 0;  // what runs it, for people
  // The most tokens one prefill call may take; longer prompts are verified in several calls.
  virtual int64_t max_prefill_tokens() const = 0;
  // Runs `function` ("prefill": every token's logits; "decode": one token) on `ids` at positions
  // pos, pos + 1, ...; hands each named value to `sink` as soon as it is computed and returns the
  // logits ([ids.size(), vocab] for prefill, [1, vocab] for decode). Calls follow each other
  // without gaps from position 0, as a generation would.
  virtual reference::Activation run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                                    const ValueSink& sink) = 0;
};

// The interpreter on `module` (which must outlive it), with weights from `weights`. `functions`
// renames the functions it is asked for (e.g. {"prefill", "prefill_fused"} for a test module).
class InterpreterExecutor final : public Executor {
 public:
  InterpreterExecutor(const ir::Module& module, const reference::WeightSource& weights, std::string name,
                      std::map<std::string, std::string> functions = {});
  std::string name() const override { return name_; }
  std::string device() const override { return "the reference interpreter (f32 values, f64 sums)"; }
  int64_t max_prefill_tokens() const override;
  reference::Activation run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                            const ValueSink& sink) override;

 private:
  reference::Interpreter interpreter_;
  std::string name_;
  std::map<std::string, std::string> functions_;
};

// A plan's `target` on `engine` (both must outlive it): each step's OutputName values are read
// right after the step, through the engine's StepObserver, before later steps reuse the memory.
class EngineExecutor final : public Executor {
 public:
  EngineExecutor(Engine& engine, const PlanTarget& target, int64_t vocab_size);
  ~EngineExecutor() override;
  std::string name() const override { return std::string(engine_.kind()); }
  std::string device() const override { return engine_.device(); }
  int64_t max_prefill_tokens() const override;
  reference::Activation run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                            const ValueSink& sink) override;

 private:
  Engine& engine_;
  const PlanTarget& target_;
  int64_t vocab_;
};

// A run recorded by `aprc record` (value_dump.h) on another machine, replayed: each call must be
// the next one it recorded (same function, position and tokens), and gives back its values.
class ReplayExecutor final : public Executor {
 public:
  ReplayExecutor(const ValueDump& dump, std::string source);  // `dump` must outlive it
  std::string name() const override { return dump_.engine; }
  std::string device() const override;
  int64_t max_prefill_tokens() const override { return dump_.max_prefill_tokens; }
  reference::Activation run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                            const ValueSink& sink) override;

 private:
  const ValueDump& dump_;
  std::string source_;
  size_t next_ = 0;
};

// Reads output `out` of the step that `event` shows ([rows, cols] f32), checking that it lies
// inside the arena or the logits it names.
reference::Activation read_output(const StepEvent& event, const OutputName& out, int64_t vocab_size);

}  // namespace aprc::verify
