// verify's core on two interpreters: the builder's module against the hand-fused form of the same
// model (every named value agrees; the values folded into fused ops are listed as not stored), and
// against fused modules with a fault written in after one op, in prefill and decode or in decode
// only: verify names exactly that op, in the first call that goes wrong.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <regex>

#include "aprc/error.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/ir/module.h"
#include "aprc/passes/pipeline.h"
#include "aprc/verify/report.h"
#include "aprc/verify/verify.h"
#include "ir_fused_module.h"
#include "ir_test_model.h"

namespace aprc::verify {
namespace {

using testing::make_test_model;
using testing::random_ids;
using testing::TestModelSpec;

// Adds y + silu(y) after the fused op whose result is named `op` in function @`function`: the
// perturbed value takes the name, the unperturbed one is renamed `op`.clean.
std::string with_fault(std::string text, const std::string& function, const std::string& op) {
  const size_t fn = text.find("func.func @" + function + "(");
  const std::regex line("\\n    (%\\w+) = (aprc\\.fused_linear [^\\n]*)result_names = \\[\"" +
                        std::regex_replace(op, std::regex("\\."), "\\.") + "\"\\]([^\\n]*)-> (tensor<[^>]*>)\\n");
  std::smatch m;
  const std::string rest = text.substr(fn);
  if (!std::regex_search(rest, m, line)) throw std::runtime_error("no fused op named " + op + " in @" + function);
  const std::string v = m[1], type = m[4];
  const std::string replacement = "\n    " + v + "_clean = " + m[2].str() + "result_names = [\"" + op + ".clean\"]" +
                                  m[3].str() + "-> " + type + "\n    " + v + "_f = aprc.silu " + v + "_clean : " + type +
                                  " loc(\"fault\")\n    " + v + " = aprc.add " + v + "_clean, " + v + "_f : " + type +
                                  " loc(\"" + op + "\")\n";
  return text.substr(0, fn) + rest.substr(0, m.position(0)) + replacement + rest.substr(m.position(0) + m.length(0));
}

struct Fixture {
  std::unique_ptr<testing::TestModel> m;
  std::string text;
  ir::Module module;
  reference::ModelWeights weights;
  explicit Fixture(const TestModelSpec& spec, const std::function<std::string(std::string)>& edit = {})
      : m(make_test_model(spec)),
        text(testing::with_fused_functions(ir::build_module(m->model).print(true), m->model.config)),
        module(ir::parse_module(edit ? edit(text) : text, "fused.mlir")),
        weights(m->model) {}
};

const std::map<std::string, std::string> kFused = {{"prefill", "prefill_fused"}, {"decode", "decode_fused"}};

Verification run(Fixture& f, const std::vector<int32_t>& prompt, int decode_steps, double tolerance = 1e-5) {
  InterpreterExecutor reference(f.module, f.weights, "reference");
  InterpreterExecutor fused(f.module, f.weights, "fused", kFused);
  Executor* candidates[] = {&fused};
  VerifyOptions options;
  options.tolerance = tolerance;
  options.decode_steps = decode_steps;
  return verify(reference, candidates, prompt, options);
}

std::string printed(const Verification& v) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  print_report(out, v);
  std::fclose(out);
  std::string s(buf, size);
  std::free(buf);
  return s;
}

TEST(VerifyInterpreter, FusedFunctionsMatchTheOriginalOpForOp) {
  Fixture f(TestModelSpec{});
  const Verification v = run(f, random_ids(6, 301, 1), 3);
  ASSERT_EQ(v.calls.size(), 4u);
  EXPECT_EQ(v.calls[0].label(), "prefill of positions [0, 6)");
  EXPECT_EQ(v.calls[3].label(), "decode at position 8");
  ASSERT_EQ(v.engines.size(), 1u);
  const EngineCheck& e = v.engines[0];
  EXPECT_TRUE(e.passed()) << describe_failure(e, v.tolerance);
  EXPECT_TRUE(v.passed());
  for (const CallCheck& c : e.calls) {
    EXPECT_EQ(c.ops.size(), 2u * 9 + 2) << c.call.label();  // what the fused functions name
    for (const OpCheck& o : c.ops) {
      EXPECT_EQ(o.error.max_abs, 0.0) << o.op;  // the same arithmetic in the same order
      EXPECT_TRUE(o.mismatch.empty());
    }
  }
  // The ops folded into fused ones: the same in every layer.
  EXPECT_EQ(not_produced(e), (std::vector<std::string>{"layers.N.attn_norm", "layers.N.attn.o_proj", "layers.N.mlp_norm",
                                                       "layers.N.mlp.gate_proj", "layers.N.mlp.up_proj",
                                                       "layers.N.mlp.silu", "layers.N.mlp.down_proj", "final_norm"}));
  // The decode tokens are the reference's greedy choices.
  EXPECT_EQ(v.calls[1].function, "decode");
  EXPECT_EQ(v.calls[1].pos, 6);
  const std::string report = printed(v);
  EXPECT_NE(report.find("-- layer 1"), std::string::npos) << report;
  EXPECT_NE(report.find("PASS: fused within"), std::string::npos) << report;
  EXPECT_EQ(report.find("<- first"), std::string::npos) << report;
}

TEST(VerifyInterpreter, NamesTheOpAfterWhichAFaultWasInjected) {
  TestModelSpec spec;
  spec.layers = 4;
  Fixture f(spec, [](std::string t) {
    return with_fault(with_fault(t, "prefill_fused", "layers.2.mlp_residual"), "decode_fused", "layers.2.mlp_residual");
  });
  const Verification v = run(f, random_ids(5, 301, 2), 2);
  const EngineCheck& e = v.engines[0];
  ASSERT_FALSE(e.passed());
  EXPECT_FALSE(v.passed());
  const OpCheck* bad = e.failed_op();
  EXPECT_EQ(bad->op, "layers.2.mlp_residual");
  EXPECT_EQ(e.failure->call, 0u);  // the prefill
  EXPECT_GT(bad->error.max_rel, 0.1);
  // Everything before it in the call agrees exactly.
  for (size_t i = 0; i < e.failure->op; ++i) EXPECT_EQ(e.calls[0].ops[i].error.max_abs, 0.0) << e.calls[0].ops[i].op;
  const std::string line = verdict(v);
  EXPECT_EQ(line.rfind("FAIL: fused: first op over tolerance: layers.2.mlp_residual in prefill of positions [0, 5): "
                       "relative error ",
                       0),
            0u)
      << line;
  const std::string report = printed(v);
  EXPECT_NE(report.find("layers.2.mlp_residual"), std::string::npos);
  EXPECT_NE(report.find("<- first"), std::string::npos) << report;
  const nlohmann::json j = report_json(v);
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["engines"][0]["first_failure"]["op"], "layers.2.mlp_residual");
  EXPECT_EQ(j["engines"][0]["first_failure"]["call"], 0);
}

TEST(VerifyInterpreter, AFaultInDecodeAloneIsFoundInTheFirstDecodeStep) {
  TestModelSpec spec;
  spec.layers = 3;
  Fixture f(spec, [](std::string t) { return with_fault(t, "decode_fused", "layers.1.attn_residual"); });
  const Verification v = run(f, random_ids(4, 301, 3), 3);
  const EngineCheck& e = v.engines[0];
  ASSERT_TRUE(e.failure);
  EXPECT_EQ(e.failed_op()->op, "layers.1.attn_residual");
  EXPECT_EQ(e.calls[e.failure->call].call.label(), "decode at position 4");
  for (const OpCheck& o : e.calls[0].ops) EXPECT_TRUE(o.ok(v.tolerance)) << o.op;  // prefill is fine
}

TEST(VerifyInterpreter, APromptLongerThanACallIsSplitIntoChunks) {
  // An executor that takes at most 4 tokens a call makes every executor take 4.
  struct Limited final : Executor {
    Executor& inner;
    explicit Limited(Executor& inner) : inner(inner) {}
    std::string name() const override { return "limited"; }
    std::string device() const override { return "test"; }
    int64_t max_prefill_tokens() const override { return 4; }
    reference::Activation run(const std::string& fn, std::span<const int32_t> ids, int64_t pos, const ValueSink& sink) override {
      EXPECT_LE(ids.size(), 4u);
      return inner.run(fn, ids, pos, sink);
    }
  };
  Fixture f(TestModelSpec{});
  InterpreterExecutor reference(f.module, f.weights, "reference");
  InterpreterExecutor fused(f.module, f.weights, "fused", kFused);
  Limited limited(fused);
  Executor* candidates[] = {&limited};
  const Verification v = verify(reference, candidates, random_ids(10, 301, 4), VerifyOptions{1e-6, 1});
  ASSERT_EQ(v.calls.size(), 4u);
  EXPECT_EQ(v.calls[2].label(), "prefill of positions [8, 10)");
  EXPECT_TRUE(v.passed());
}

// aprc-inject-fault after the fusions, as `aprc compile --inject-fault` runs it: the perturbed value
// carries the name of the fused op that absorbed the named one.
TEST(VerifyInterpreter, TheInjectFaultPassIsFoundWhereItPerturbs) {
  TestModelSpec spec;
  spec.layers = 4;
  const auto m = make_test_model(spec);
  const ir::Module original = ir::build_module(m->model);
  const reference::ModelWeights weights(m->model);
  for (auto [pattern, named] : {std::pair{"layers.2.mlp.down_proj", "layers.2.mlp_residual"},
                                std::pair{"layers.*.attn.v_proj", "layers.0.attn.v_proj"},
                                std::pair{"layers.3.attn.q_rope", "layers.3.attn.q_rope"}}) {
    SCOPED_TRACE(pattern);
    ir::Module faulty = ir::parse_module(original.print(), "faulty.mlir");
    passes::run_pipeline(faulty, std::string("aprc-optimize,aprc-inject-fault{op=") + pattern + "}");
    InterpreterExecutor reference(original, weights, "reference");
    InterpreterExecutor candidate(faulty, weights, "faulty");
    Executor* candidates[] = {&candidate};
    const Verification v = verify(reference, candidates, random_ids(5, 301, 8), VerifyOptions{1e-5, 1});
    const EngineCheck& e = v.engines[0];
    ASSERT_TRUE(e.failure);
    EXPECT_EQ(e.failed_op()->op, named);
    EXPECT_EQ(e.failure->call, 0u);
  }
  // A pattern that names nothing is an error, not a plan without a fault.
  ir::Module faulty = ir::parse_module(original.print(), "faulty.mlir");
  try {
    passes::run_pipeline(faulty, "aprc-optimize,aprc-inject-fault{op=layers.9.mlp.down_proj}");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no op is named 'layers.9.mlp.down_proj'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc::verify
