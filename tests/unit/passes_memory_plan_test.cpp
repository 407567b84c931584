// The memory plan, replayed: after aprc-lower-cpu, each function is run again op by op on one arena
// laid out as its aprc.offsets say, with the values the interpreter computed. Every op must find
// its operands intact at their offsets (no buffer was overwritten while live), in-place results
// land on their operand's buffer, and the arena is not much larger than the live bytes require.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <map>

#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/ir/dialect.h"
#include "aprc/ir/module_impl.h"
#include "aprc/passes/pipeline.h"
#include "ir_test_model.h"
#include "passes_test_util.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace aprc {
namespace {

using ir::AprcDialect;
using reference::Activation;
using reference::RecordedValues;

bool is_activation(mlir::Value v) {
  auto t = mlir::dyn_cast<mlir::RankedTensorType>(v.getType());
  return t && t.getRank() == 2 && t.getElementType().isF32();
}

// The name the interpreter records `v` under: its op's result_names entry, or the op's NameLoc.
std::string name_of(mlir::Value v) {
  mlir::Operation* op = v.getDefiningOp();
  if (auto names = op->getAttrOfType<mlir::ArrayAttr>("result_names"))
    return mlir::cast<mlir::StringAttr>(names[mlir::cast<mlir::OpResult>(v).getResultNumber()]).str();
  if (auto loc = mlir::dyn_cast<mlir::NameLoc>(op->getLoc())) return loc.getName().str();
  return "";
}

int64_t offset_of(mlir::Value v) {
  auto offsets = v.getDefiningOp()->getAttrOfType<mlir::DenseI64ArrayAttr>(AprcDialect::kOffsetsAttrName);
  if (!offsets) return std::numeric_limits<int64_t>::min();
  return offsets[mlir::cast<mlir::OpResult>(v).getResultNumber()];
}

int64_t planned_bytes(mlir::Value v, int64_t max_tokens) {
  auto t = mlir::cast<mlir::RankedTensorType>(v.getType());
  return (t.isDynamicDim(0) ? max_tokens : t.getDimSize(0)) * t.getDimSize(1) * 4;
}

struct Replay {
  int64_t reads = 0;          // operands checked
  int64_t clobbered = 0;      // operands that were no longer intact
  std::string first_clobbered;
  int64_t arena_bytes = 0;
  int64_t live_bytes = 0;     // the most bytes live at once: a lower bound of any arena
};

Replay replay(mlir::func::FuncOp fn, const RecordedValues& values) {
  Replay r;
  r.arena_bytes = fn->getAttrOfType<mlir::IntegerAttr>(AprcDialect::kArenaBytesAttrName).getInt();
  const int64_t max_tokens = fn->getAttrOfType<mlir::IntegerAttr>(AprcDialect::kMaxTokensAttrName).getInt();
  std::vector<float> arena(static_cast<size_t>(r.arena_bytes / 4), std::numeric_limits<float>::quiet_NaN());
  auto at = [&](int64_t offset) { return arena.data() + offset / 4; };
  std::map<int64_t, int64_t> live;  // offset -> bytes, of the buffers written and still to be read

  for (mlir::Operation& op : fn.getBody().front()) {
    for (mlir::Value operand : op.getOperands()) {
      if (!is_activation(operand) || offset_of(operand) == AprcDialect::kFunctionOutput) continue;
      const Activation& want = values.values.at(name_of(operand));
      ++r.reads;
      if (std::memcmp(at(offset_of(operand)), want.data.data(), want.data.size() * 4) != 0 && r.clobbered++ == 0)
        r.first_clobbered = name_of(operand) + " read by " + op.getName().getStringRef().str();
    }
    std::map<int64_t, int64_t> written;  // offset -> bytes of this op's results
    for (mlir::Value result : op.getResults()) {
      if (!is_activation(result)) continue;
      const int64_t offset = offset_of(result);
      EXPECT_NE(offset, std::numeric_limits<int64_t>::min()) << "no offset for " << name_of(result);
      if (offset == AprcDialect::kFunctionOutput) continue;
      EXPECT_EQ(offset % 64, 0) << name_of(result);
      EXPECT_LE(offset + planned_bytes(result, max_tokens), r.arena_bytes) << name_of(result);
      const Activation& value = values.values.at(name_of(result));
      std::memcpy(at(offset), value.data.data(), value.data.size() * 4);
      written[offset] = planned_bytes(result, max_tokens);
    }
    // While the op runs, its operands and results are all live (an in-place result counted once).
    std::map<int64_t, int64_t> now = live;
    now.insert(written.begin(), written.end());
    int64_t bytes = 0;
    for (const auto& entry : now) bytes += entry.second;
    r.live_bytes = std::max(r.live_bytes, bytes);
    // Then the buffers whose last reader this op was are free, and its results are live.
    for (mlir::Value operand : op.getOperands())
      if (is_activation(operand) && llvm::all_of(operand.getUsers(), [&](mlir::Operation* u) {
            return u == &op || u->isBeforeInBlock(&op);
          }))
        live.erase(offset_of(operand));
    live.insert(written.begin(), written.end());
    for (mlir::Value result : op.getResults())
      if (is_activation(result) && result.use_empty()) live.erase(offset_of(result));
  }
  return r;
}

struct Planned {
  std::unique_ptr<testing::TestModel> model;
  ir::Module module;
};

Planned planned(const testing::TestModelSpec& spec, int64_t max_tokens) {
  auto m = testing::make_test_model(spec);
  ir::Module module = ir::build_module(m->model);
  passes::run_pipeline(module, "aprc-lower-cpu{max-tokens=" + std::to_string(max_tokens) + "}");
  return {std::move(m), std::move(module)};
}

mlir::func::FuncOp function(const ir::Module& module, const char* name) {
  return ir::mlir_module(module).lookupSymbol<mlir::func::FuncOp>(name);
}

void expect_sound(const Replay& r, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_GT(r.reads, 0);
  EXPECT_EQ(r.clobbered, 0) << "first: " << r.first_clobbered;
  std::printf("%s: arena %lld bytes, most live at once %lld (ratio %.3f)\n", what,
              static_cast<long long>(r.arena_bytes), static_cast<long long>(r.live_bytes),
              static_cast<double>(r.arena_bytes) / r.live_bytes);
  EXPECT_LE(r.arena_bytes, r.live_bytes * 5 / 4) << "the packing wastes more than a quarter";
}

TEST(MemoryPlan, EveryFunctionReplaysOnItsArena) {
  testing::TestModelSpec odd;
  odd.hidden = 96, odd.heads = 3, odd.kv_heads = 1, odd.head_dim = 32, odd.intermediate = 160, odd.vocab = 97;
  odd.embed = odd.q = odd.k = odd.v = odd.o = odd.gate = odd.up = odd.down = odd.lm_head = DType::Q8_0;
  odd.layers = 3;
  for (const testing::TestModelSpec& spec : {testing::TestModelSpec{}, odd}) {
    const int64_t max_tokens = 8;
    const Planned p = planned(spec, max_tokens);
    const reference::ModelWeights weights(p.model->model);
    const std::vector<int32_t> ids = testing::random_token_ids(max_tokens + 1, spec.vocab, 3);

    reference::Interpreter prefill(p.module, weights);
    RecordedValues prefill_values;
    prefill.run("prefill", std::span(ids).first(max_tokens), 0, &prefill_values);
    expect_sound(replay(function(p.module, "prefill"), prefill_values), "prefill");

    reference::Interpreter last(p.module, weights);
    RecordedValues last_values, decode_values;
    last.run("prefill_last", std::span(ids).first(5), 0, &last_values);
    expect_sound(replay(function(p.module, "prefill_last"), last_values), "prefill_last");
    last.run("decode", std::span(ids).subspan(5, 1), 5, &decode_values);
    expect_sound(replay(function(p.module, "decode"), decode_values), "decode");
  }
}

// The replay catches a plan that overlaps live buffers: every buffer at offset 0.
TEST(MemoryPlan, ReplayCatchesOverlappingBuffers) {
  const Planned p = planned(testing::TestModelSpec{}, 4);
  const reference::ModelWeights weights(p.model->model);
  reference::Interpreter interp(p.module, weights);
  RecordedValues values;
  interp.run("prefill", testing::random_token_ids(4, 301, 9), 0, &values);
  mlir::func::FuncOp fn = function(p.module, "prefill");
  fn.walk([&](mlir::Operation* op) {
    if (auto offsets = op->getAttrOfType<mlir::DenseI64ArrayAttr>(AprcDialect::kOffsetsAttrName)) {
      llvm::SmallVector<int64_t> zeros;
      for (int64_t o : offsets.asArrayRef()) zeros.push_back(o == AprcDialect::kFunctionOutput ? o : 0);
      op->setAttr(AprcDialect::kOffsetsAttrName, mlir::DenseI64ArrayAttr::get(op->getContext(), zeros));
    }
  });
  EXPECT_GT(replay(fn, values).clobbered, 0);
}

}  // namespace
}  // namespace aprc
