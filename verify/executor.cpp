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
  const Step& st = event.step();
  const int64_t rows = out.rows.eval(event.T, event.pos);
  const std::string what = event.function.name + " step " + std::to_string(event.index) + " (kernel " + st.kernel +
                           "): output '" + out.op + "'";
  if (out.arg < 0 || static_cast<size_t>(out.arg) >= st.args.size())
    throw_bad_input(what + " names argument " + std::to_string(out.arg) + " of " + std::to_string(st.args.size()));
  if (rows < 0 || out.cols <= 0 || out.col_offset < 0 || out.col_offset + out.cols > out.row_stride)
    throw_bad_input(what + ": " + std::to_string(rows) + " rows of " + std::to_string(out.cols) + " columns at column " +
                    std::to_string(out.col_offset) + " do not fit rows of " + std::to_string(out.row_stride));
  const Arg& arg = st.args[static_cast<size_t>(out.arg)];
  // The bytes the output spans must lie in the buffer it names (where the engine can tell).
  const int64_t base = arg.offset.eval(event.T, event.pos);
  const int64_t end = base + ((rows - 1) * out.row_stride + out.col_offset + out.cols) * 4;
  int64_t limit = std::numeric_limits<int64_t>::max();
  if (arg.kind == ArgKind::Arena) limit = event.function.arena_bytes;
  if (arg.kind == ArgKind::Logits) limit = event.T * vocab_size * 4;
  if (rows > 0 && (base < 0 || end > limit))
    throw_bad_input(what + " runs past the end of its buffer (" + std::to_string(limit) + " bytes)");

  reference::Activation value(rows, out.cols);
  for (int64_t r = 0; r < rows; ++r)
    event.buffers.read(static_cast<size_t>(out.arg), (r * out.row_stride + out.col_offset) * 4,
                       static_cast<size_t>(out.cols) * 4, value.row(r));
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

}  // namespace aprc::verify
