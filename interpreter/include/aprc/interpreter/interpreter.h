// The reference interpreter: executes any function of an aprc module (original or fused ops, any
// weight layout) op by op with the reference semantics of reference_ops.h, keeping a KV cache per
// aprc.kv_cache symbol across calls. It is the oracle every backend is compared with. MLIR-free
// header: the module is held through aprc::ir::Module.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"
#include "aprc/interpreter/reference_ops.h"

namespace aprc::ir {
class Module;
}

namespace aprc::reference {

// A weight symbol as the IR declares it (`aprc.weight @symbol : !aprc.weight<...> {source}`).
struct WeightDecl {
  std::string symbol;  // "layers.0.attn.q_proj.weight"
  std::string source;  // the canonical tensor name, "model.layers.0.self_attn.q_proj.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  WeightLayout layout = WeightLayout::RowMajor;
  ScaleGranularity scales = ScaleGranularity::PerChannel;
};

// Where the interpreter gets weight bytes: a model file, a plan, ...
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The bytes of `decl`, arranged in decl.layout, with the dtype and shape the source holds
  // (the interpreter checks them against the declaration). The view stays valid while the
  // source lives. Throws Error(BadInput) naming the file when the source lacks the weight.
  virtual TensorView weight(const WeightDecl& decl) const = 0;
};

// Receives every named value a run computes: each op's result under the op's name (its NameLoc,
// `layers.0.attn.q_proj`), each fused op's results under their result_names.
class ValueRecorder {
 public:
  virtual ~ValueRecorder() = default;
  virtual void record(const std::string& name, const Activation& value) = 0;
};

// A ValueRecorder that keeps everything.
struct RecordedValues : ValueRecorder {
  std::map<std::string, Activation> values;
  void record(const std::string& name, const Activation& value) override { values[name] = value; }
};

class Interpreter {
 public:
  // `module` and `weights` must outlive the interpreter.
  Interpreter(const ir::Module& module, const WeightSource& weights);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Runs `function` (`prefill`, `prefill_last`, `decode`, or any function taking (ids, pos)) on
  // `ids` at positions pos, pos+1, ...; returns its result (the logits). Bad ids, positions or a
  // function that does not exist are BadInput.
  Activation run(const std::string& function, std::span<const int32_t> ids, int64_t pos,
                 ValueRecorder* recorder = nullptr);

  // Forgets every cached key and value.
  void reset();

  // How many positions the caches hold (the same for every layer after a complete run).
  int64_t cached_positions() const;

  struct State;  // defined in interpreter.cpp

 private:
  std::unique_ptr<State> state_;
};

}  // namespace aprc::reference
