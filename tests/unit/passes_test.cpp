// Every pass and pipeline on synthetic models of several encoding mixes and odd sizes: the rewritten
// module computes the same logits as the original (prefill, then decode from the cache it filled),
// every value a rewritten op names equals the original op's value of that name, and the rewrite
// did what the pass says (op counts, weight layouts).
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "aprc/error.h"
#include "aprc/formats/layouts.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "aprc/passes/pipeline.h"
#include "ir_test_model.h"
#include "passes_test_util.h"

namespace aprc {
namespace {

using reference::Activation;
using reference::Interpreter;
using reference::ModelWeights;
using reference::RecordedValues;
using testing::make_test_model;
using testing::random_token_ids;
using testing::relative_error;
using testing::TestModelSpec;

struct Mix {
  const char* name;
  TestModelSpec spec;
};

std::vector<Mix> mixes() {
  TestModelSpec quantized;  // q4_k q8_0 q5_0 q6_k q5_k aprq4 weights, f32 norms and biases, untied
  TestModelSpec odd;        // odd sizes in float encodings, which take rows of any length
  odd.hidden = 70, odd.heads = 3, odd.kv_heads = 1, odd.head_dim = 22, odd.intermediate = 97, odd.vocab = 131;
  odd.embed = odd.q = odd.v = DType::F16;
  odd.k = odd.o = odd.gate = DType::BF16;
  odd.up = odd.down = DType::F32;
  odd.norm = odd.bias = DType::BF16;
  odd.tied = true;
  odd.layers = 3;
  odd.seed = 5;
  TestModelSpec scaled;  // fp8 and aprq8, no biases, GQA 2:1 with 3 kv heads
  scaled.q = scaled.k = scaled.v = DType::FP8_E4M3;
  scaled.o = scaled.gate = DType::AprQ8;
  scaled.qkv_biases = false;
  scaled.heads = 6, scaled.kv_heads = 3, scaled.head_dim = 32;
  scaled.seed = 6;
  return {{"quantized", quantized}, {"odd_floats", odd}, {"fp8_aprq8", scaled}};
}

// What a module computes for one prompt: prefill of the first `prefill` ids (every named value
// recorded), then one decode call per remaining id; the logits of each call.
struct Trace {
  std::vector<Activation> logits;
  RecordedValues prefill_values;
};

Trace trace(const ir::Module& module, const Model& model, const std::vector<int32_t>& ids, size_t prefill) {
  const ModelWeights weights(model);
  Interpreter interp(module, weights);
  Trace t;
  t.logits.push_back(interp.run("prefill", std::span(ids).first(prefill), 0, &t.prefill_values));
  for (size_t p = prefill; p < ids.size(); ++p)
    t.logits.push_back(interp.run("decode", std::span(ids).subspan(p, 1), static_cast<int64_t>(p)));
  return t;
}

void expect_same_values(const Trace& got, const Trace& want) {
  ASSERT_EQ(got.logits.size(), want.logits.size());
  for (size_t i = 0; i < got.logits.size(); ++i) EXPECT_LE(relative_error(got.logits[i], want.logits[i]), 1e-6) << "call " << i;
  ASSERT_FALSE(got.prefill_values.values.empty());
  for (const auto& [name, value] : got.prefill_values.values) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(want.prefill_values.values.count(name)) << "the original computes no value of this name";
    EXPECT_LE(relative_error(value, want.prefill_values.values.at(name)), 1e-6);
  }
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// How often each op (or op fragment) occurs in a module's text, against what a pipeline leaves per
// layer and per function (3 functions: prefill, prefill_last, decode).
struct Expectation {
  std::string fragment;
  int64_t per_layer;   // occurrences per layer and function
  int64_t per_function = 0;
};

struct Case {
  std::string pipeline;
  std::vector<Expectation> expect;
};

std::vector<Case> cases() {
  return {
      {"func.func(aprc-fuse-gate-up-swiglu)",
       {{"= aprc.silu ", 0}, {"= aprc.mul ", 0}, {"epilogue swiglu", 1}, {"= aprc.linear ", 5}}},
      // Alone, it fuses gate and up too (no swiglu ran before it).
      {"func.func(aprc-fuse-shared-input-linears)",
       {{"epilogue none", 2}, {"= aprc.linear ", 2}, {"= aprc.silu ", 1}}},
      // Every norm but the final one (which feeds the logits) folds, into q, k, v, gate and up.
      {"func.func(aprc-fold-norm-into-linear)",
       {{"= aprc.rms_norm ", 0, 1}, {" norm(", 5}, {"= aprc.linear ", 2}}},
      {"func.func(aprc-fold-residual-into-linear)",
       {{"= aprc.add ", 0}, {"epilogue residual", 2}, {"= aprc.linear ", 5}}},
      {"func.func(aprc-fuse-rope-kv-append)",
       {{"aprc.rope_kv_append ", 1}, {"aprc.kv_append ", 0}, {"= aprc.rope ", 1}}},
      // After the rope/kv-append fusion (alone, the q rope finds no rope_kv_append to join).
      {"func.func(aprc-fuse-rope-kv-append,aprc-fuse-q-rope-into-kv-append)",
       {{"aprc.rope_qk_kv_append ", 1}, {"aprc.rope_kv_append ", 0}, {"aprc.kv_append ", 0}, {"= aprc.rope ", 0}}},
      {"func.func(aprc-fuse-q-rope-into-kv-append)", {{"aprc.rope_qk_kv_append ", 0}, {"= aprc.rope ", 2}}},
      {"aprc-optimize",
       {{"aprc.fused_linear ", 4}, {"epilogue none", 1}, {"epilogue swiglu", 1},
        {"epilogue residual", 2}, {" norm(", 2}, {"= aprc.rms_norm ", 0, 1}, {"aprc.rope_kv_append ", 1},
        {"= aprc.rope ", 1}, {"= aprc.linear ", 0}, {"= aprc.silu ", 0}, {"= aprc.mul ", 0}, {"= aprc.add ", 0},
        {"aprc.kv_append ", 0}}},
      {"aprc-lower-cpu{max-tokens=16}", {{"aprc.fused_linear ", 4}, {"aprc.max_tokens", 0, 1}, {"aprc.arena_bytes", 0, 1}}},
      {"aprc-lower-cuda",
       {{"aprc.fused_linear ", 4}, {"aprc.max_tokens", 0, 1}, {"aprc.rope_qk_kv_append ", 1}, {"= aprc.rope ", 0}}},
      {"aprc-repack-weights{target=cpu}", {{"= aprc.linear ", 7}}},
      {"aprc-repack-weights{target=cuda}", {{"= aprc.linear ", 7}}},
  };
}

// The layout each weight declaration of `text` has, by symbol.
std::map<std::string, std::string> layouts(const std::string& text) {
  std::map<std::string, std::string> out;
  const std::regex decl(R"re(aprc\.weight @(\S+) : !aprc\.weight<\w+, \[[0-9, ]+\](?:, (\w+))?)re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), decl); it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = (*it)[2].matched && (*it)[2] != "per_channel" && (*it)[2] != "per_tensor" ? (*it)[2].str() : "row_major";
  return out;
}

// The model tensor behind a projection, logits or embedding weight symbol (as the IR builder names
// them; both targets' embedding kernels read the matrix layouts), or null for norms and biases.
const TensorRef* matrix_tensor(const Model& model, const std::string& symbol) {
  if (symbol == "logits.weight") return &model.output_weight();
  if (symbol == "embed.weight") return &model.tensor(names::embed_tokens());
  std::smatch m;
  if (!std::regex_match(symbol, m, std::regex(R"re(layers\.(\d+)\.(attn|mlp)\.(\w+_proj)\.weight)re"))) return nullptr;
  const std::string tensor = (m[2] == "attn" ? "self_attn." : "mlp.") + m[3].str() + ".weight";
  return &model.tensor(names::layer(std::stoi(m[1]), tensor.c_str()));
}

// Weights that matrix products or embedding lookups read have their target's layout (where it can
// hold them); the others stay row_major.
void expect_layouts(const std::string& text, const Model& model, Backend backend) {
  const std::map<std::string, std::string> got = layouts(text);
  ASSERT_FALSE(got.empty());
  for (const auto& [symbol, layout] : got) {
    SCOPED_TRACE(symbol);
    std::string want = layout_name(WeightLayout::RowMajor);
    if (const TensorRef* t = matrix_tensor(model, symbol)) {
      const WeightLayout preferred = preferred_layout(backend, t->dtype);
      if (layout_supports(preferred, t->dtype) && layout_bytes(preferred, t->dtype, t->shape[0], t->shape[1]))
        want = layout_name(preferred);
    }
    EXPECT_EQ(layout, want);
  }
}

class PassesOnSyntheticModels : public ::testing::TestWithParam<Case> {};

TEST_P(PassesOnSyntheticModels, RewrittenModuleComputesTheSameValues) {
  const Case& c = GetParam();
  for (const Mix& mix : mixes()) {
    SCOPED_TRACE(mix.name);
    const auto m = make_test_model(mix.spec);
    const ir::Module original = ir::build_module(m->model);
    ir::Module rewritten = ir::parse_module(original.print(), "built.mlir");
    passes::run_pipeline(rewritten, c.pipeline);
    const std::string text = rewritten.print(false);

    for (const Expectation& e : c.expect)
      EXPECT_EQ(count(text, e.fragment), static_cast<size_t>(3 * (e.per_layer * mix.spec.layers + e.per_function)))
          << "'" << e.fragment << "' in\n" << text;
    if (c.pipeline.find("target=cuda") != std::string::npos || c.pipeline == "aprc-lower-cuda")
      expect_layouts(text, m->model, Backend::Cuda);
    else if (c.pipeline.find("target=cpu") != std::string::npos || c.pipeline.starts_with("aprc-lower-cpu"))
      expect_layouts(text, m->model, Backend::Cpu);

    const std::vector<int32_t> ids = random_token_ids(9, mix.spec.vocab, 11);
    expect_same_values(trace(rewritten, m->model, ids, 7), trace(original, m->model, ids, 7));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPipeline, PassesOnSyntheticModels, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name;
                           for (char ch : info.param.pipeline) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

TEST(Passes, RunPipelinePrintsTheIrAndTimingsAsMlirOptDoes) {
  const auto m = make_test_model(TestModelSpec{});
  ir::Module module = ir::build_module(m->model);
  ::testing::internal::CaptureStderr();
  passes::run_pipeline(module, "aprc-lower-cpu", {.print_ir_after_all = true, .timing = true});
  const std::string err = ::testing::internal::GetCapturedStderr();
  for (const char* pass : {"FuseGateUpSwiGLU (aprc-fuse-gate-up-swiglu)", "RepackWeights (aprc-repack-weights)",
                           "PlanMemory (aprc-plan-memory)"})
    EXPECT_NE(err.find(std::string("// -----// IR Dump After ") + pass + " //----- //"), std::string::npos) << pass;
  EXPECT_NE(err.find("Execution time report"), std::string::npos);
  EXPECT_LT(err.find("IR Dump After"), err.find("Execution time report"));
}

TEST(Passes, RunPipelineRefusesAnUnknownPass) {
  const auto m = make_test_model(TestModelSpec{});
  ir::Module module = ir::build_module(m->model);
  try {
    passes::run_pipeline(module, "aprc-fuse-everything");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("aprc-fuse-everything"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc
