#include "aprc/verify/executor.h"

#include <limits>

#include "aprc/error.h"

namespace aprc::verify {

namespace {

// Hands the interpreter's recorded values to a sink.
struct SinkRecorder final : reference::ValueRecorder {
  const ValueSink& sink;
  explicit SinkRecorder(const ValueSink& sink) : sink(sink) {}
  void record(const std::string& name, const reference::Activation& value) override { sink(NamedValue{name, value, -1, {}, {}}); }
};

}  // namespace

InterpreterExecutor::InterpreterExecutor(const ir::Module& module, const reference::WeightSource& weights,
                                         std::string name, std::map<std::string, std::string> functions)
    : interpreter_(module, weights), name_(std::move(name)), functions_(std::move(functions)) {}

int64_t InterpreterExecutor::max_prefill_tokens() const { return std::numeric_limits<int64_t>::max(); }

reference::Activation InterpreterExecutor::run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                                               const ValueSink& sink) {
  auto renamed = functions_.find(function);
  SinkRecorder recorder(sink);
  return interpreter_.run(renamed == functions_.end() ? function : renamed->second, ids, pos, &recorder);
}

reference::Activation read_output(const StepEvent& event, const OutputName& out, int64_t vocab_size) {
  int64_t rows = 0;
  std::vector<float> data = read_step_output(event, out, vocab_size, rows);
  reference::Activation value(rows, out.cols);
  value.data = std::move(data);
  return value;
}

namespace {

// Reads every step's named outputs into a sink.
class OutputReader final : public StepObserver {
 public:
  OutputReader(const ValueSink& sink, int64_t vocab) : sink_(sink), vocab_(vocab) {}
  void after_step(const StepEvent& event) override {
    const Step& st = event.step();
    std::vector<std::string> ops = st.ops;
    if (ops.empty())
      for (const OutputName& out : st.outputs) ops.push_back(out.op);
    for (const OutputName& out : st.outputs)
      sink_(NamedValue{out.op, read_output(event, out, vocab_), static_cast<int64_t>(event.index), st.kernel, ops});
  }

 private:
  const ValueSink& sink_;
  int64_t vocab_;
};

}  // namespace

EngineExecutor::EngineExecutor(Engine& engine, const PlanTarget& target, int64_t vocab_size)
    : engine_(engine), target_(target), vocab_(vocab_size) {}

EngineExecutor::~EngineExecutor() { engine_.set_step_observer(nullptr); }

int64_t EngineExecutor::max_prefill_tokens() const {
  const Function* f = target_.function("prefill");
  return f ? f->max_tokens : 0;
}

reference::Activation EngineExecutor::run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                                          const ValueSink& sink) {
  const Function* fn = target_.function(function);
  if (!fn) throw_bad_input("the plan's " + target_.name + " target has no function '" + function + "'");
  const int64_t T = static_cast<int64_t>(ids.size());
  if (T > fn->max_tokens || pos + T > engine_.context())
    throw_bad_input(target_.name + ": " + std::to_string(T) + " tokens at position " + std::to_string(pos) +
                    " do not fit '" + function + "' (at most " + std::to_string(fn->max_tokens) +
                    " tokens a call, " + std::to_string(engine_.context()) + " positions)");
  reference::Activation logits(function == "prefill" ? T : 1, vocab_);
  OutputReader reader(sink, vocab_);
  engine_.set_step_observer(&reader);
  try {
    engine_.run(*fn, ids, pos, logits.data.data());
  } catch (...) {
    engine_.set_step_observer(nullptr);
    throw;
  }
  engine_.set_step_observer(nullptr);
  return logits;
}

ReplayExecutor::ReplayExecutor(const ValueDump& dump, std::string source) : dump_(dump), source_(std::move(source)) {}

std::string ReplayExecutor::device() const { return dump_.device + ", recorded in " + source_; }

reference::Activation ReplayExecutor::run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                                          const ValueSink& sink) {
  const std::string call = function + " at position " + std::to_string(pos);
  if (next_ >= dump_.calls.size()) throw_bad_input(source_ + ": has no " + call + " (it recorded " + std::to_string(dump_.calls.size()) + " calls)");
  const DumpedCall& c = dump_.calls[next_++];
  if (c.function != function || c.pos != pos || !std::equal(ids.begin(), ids.end(), c.ids.begin(), c.ids.end()))
    throw_bad_input(source_ + ": recorded " + c.function + " at position " + std::to_string(c.pos) + " of " +
                    std::to_string(c.ids.size()) + " tokens where verify runs " + call + " of " +
                    std::to_string(ids.size()) + " tokens (a different prompt, or the engine and the reference chose "
                    "different greedy tokens)");
  for (const DumpedValue& v : c.values) {
    reference::Activation a(v.rows, v.cols);
    a.data = v.data;
    sink(NamedValue{v.name, std::move(a), v.step, v.kernel, v.ops});
  }
  reference::Activation logits(c.logits_rows, dump_.vocab);
  logits.data = c.logits;
  return logits;
}

}  // namespace aprc::verify
