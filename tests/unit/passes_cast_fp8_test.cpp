// aprc-cast-fp8 on synthetic models: the cast module, with weights materialized from the stored
// tensors, computes exactly what the original module computes on a model whose tensors the test
// cast by hand (dequantize, then quantize_tensor to fp8e4m3: not convert_weight); per-token fp8
// activations against a product computed here from the e4m3 codes.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "aprc/error.h"
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
using testing::TestModelSpec;

// The model with the tensors matching `which` cast to fp8 by hand.
std::unique_ptr<testing::TestModel> hand_cast(const Model& model, const std::string& which, ScaleGranularity g) {
  return testing::with_tensors_replaced(model, std::regex(which), DType::FP8_E4M3, [&](const TensorRef& t) {
    const std::vector<float> values = dequantize(t.view());
    return quantize_tensor(DType::FP8_E4M3, values.data(), t.shape[0], t.shape[1], g);
  });
}

ir::Module cast_module(const Model& model, const std::string& options) {
  ir::Module module = ir::build_module(model);
  passes::run_pipeline(module, "aprc-cast-fp8" + options);
  return module;
}

Activation run(const ir::Module& module, const Model& model, const std::string& fn, const std::vector<int32_t>& ids) {
  const ModelWeights weights(model);
  Interpreter interp(module, weights);
  return interp.run(fn, ids, 0);
}

// The text of `model`'s module with every fp8 type per_tensor (the builder declares per_channel:
// a Model does not record the granularity of its fp8 tensors).
ir::Module per_tensor_module(const Model& model) {
  return ir::parse_module(std::regex_replace(ir::build_module(model).print(false), std::regex("per_channel"), "per_tensor"),
                          "per_tensor.mlir");
}

struct CastCase {
  const char* options;
  const char* tensors;  // regex of the canonical names the options select
  ScaleGranularity granularity;
};

TEST(CastFp8, CastModuleComputesWhatHandCastWeightsCompute) {
  TestModelSpec spec;
  spec.hidden = 320;  // not a multiple of 256: fp8 takes any row length
  spec.intermediate = 544;
  spec.embed = DType::Q8_0, spec.q = DType::Q8_0, spec.k = DType::Q5_0, spec.v = DType::Q8_0;
  spec.o = DType::F16, spec.gate = DType::BF16, spec.up = DType::AprQ4, spec.down = DType::Q5_0;
  spec.lm_head = DType::Q8_0;
  const auto m = testing::make_test_model(spec);
  const std::vector<int32_t> ids = testing::random_token_ids(7, spec.vocab, 11);

  const CastCase cases[] = {
      {"", R"(_proj\.weight$)", ScaleGranularity::PerChannel},  // layers: the output projection stays
      {"{ops=all granularity=per_tensor}", R"((_proj|lm_head)\.weight$)", ScaleGranularity::PerTensor},
      {"{ops=logits,layers}", R"((_proj|lm_head)\.weight$)", ScaleGranularity::PerChannel},
      {"{ops=mlp,attn_proj}", R"((mlp\..*|o_proj)\.weight$)", ScaleGranularity::PerChannel},
      {"{ops=attn_qkv}", R"([qkv]_proj\.weight$)", ScaleGranularity::PerChannel},
      {"{ops=logits granularity=per_tensor}", R"(lm_head\.weight$)", ScaleGranularity::PerTensor},
  };
  for (const CastCase& c : cases) {
    SCOPED_TRACE(std::string("aprc-cast-fp8") + c.options);
    const ir::Module cast = cast_module(m->model, c.options);
    const auto hand = hand_cast(m->model, c.tensors, c.granularity);
    const ir::Module want_module =
        c.granularity == ScaleGranularity::PerTensor ? per_tensor_module(hand->model) : ir::build_module(hand->model);
    for (const char* fn : {"prefill", "prefill_last"}) {
      const Activation got = run(cast, m->model, fn, ids);
      const Activation want = run(want_module, hand->model, fn, ids);
      ASSERT_EQ(got.data.size(), want.data.size());
      EXPECT_EQ(got.data, want.data) << fn;
      // A sanity bound against the stored weights: random two-layer models pass each fp8 rounding
      // (2-3% a product) on unattenuated, so they land at 5-9%; wrong scales would give 100%. The
      // accuracy criteria are checked on the fixture (fp8_accuracy_test.cpp).
      const double err = testing::relative_error(got, run(ir::build_module(m->model), m->model, fn, ids));
      EXPECT_GT(err, 0.0) << fn;
      EXPECT_LT(err, 0.2) << fn;
    }
  }
}

TEST(CastFp8, TiedOutputProjectionIsCastWithoutTheEmbedding) {
  TestModelSpec spec;
  spec.tied = true;
  spec.embed = DType::Q8_0;
  const auto m = testing::make_test_model(spec);
  const ir::Module cast = cast_module(m->model, "{ops=logits}");
  const std::string text = cast.print(false);
  EXPECT_NE(text.find("aprc.weight @logits.weight : !aprc.weight<fp8e4m3, [301, 256], per_channel> {source = "
                      "\"model.embed_tokens.weight\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("aprc.weight @embed.weight : !aprc.weight<q8_0, [301, 256]>"), std::string::npos) << text;

  // The logits equal those of the un-cast module's final hidden state times the hand-cast table.
  const std::vector<int32_t> ids = testing::random_token_ids(5, spec.vocab, 3);
  const Activation got = run(cast, m->model, "prefill", ids);
  reference::RecordedValues hidden;
  {
    const ModelWeights weights(m->model);
    const ir::Module original = ir::build_module(m->model);
    Interpreter interp(original, weights);
    interp.run("prefill", ids, 0, &hidden);
  }
  const Activation& h = hidden.values.at("final_norm");
  const TensorRef& table = m->model.tensor(names::embed_tokens());
  const std::vector<float> values = dequantize(table.view());
  const auto fp8 = quantize_tensor(DType::FP8_E4M3, values.data(), table.shape[0], table.shape[1]);
  const std::vector<float> w = dequantize(TensorView{DType::FP8_E4M3, table.shape, fp8});
  Activation want(h.rows, table.shape[0]);
  for (int64_t t = 0; t < h.rows; ++t)
    for (int64_t o = 0; o < want.cols; ++o) {
      double s = 0;
      for (int64_t i = 0; i < h.cols; ++i) s += static_cast<double>(h.row(t)[i]) * w[o * h.cols + i];
      want.row(t)[o] = static_cast<float>(s);
    }
  EXPECT_LT(testing::relative_error(got, want), 1e-6);
}

// The nearest e4m3 value to v by brute force (of all finite codes, ties to the even code).
double nearest_e4m3(double v) {
  double best = 0, best_err = INFINITY;
  for (int code = 0; code < 0x7f; ++code) {  // the finite non-negative codes
    const double c = std::copysign(static_cast<double>(fp8e4m3_to_f32(static_cast<uint8_t>(code))), v);
    const double e = std::fabs(c - v);
    if (e < best_err || (e == best_err && code % 2 == 0)) best = c, best_err = e;
  }
  return best;
}

// x per row times 1 / scale as two e4m3 terms found by brute force (hi nearest to v, lo nearest to
// v - hi), times its scale, then multiplied with the weights' dequantized values in double.
Activation per_token_product(const Activation& x, const std::vector<float>& w, int64_t out) {
  Activation y(x.rows, out);
  std::vector<double> q(static_cast<size_t>(x.cols));
  for (int64_t t = 0; t < x.rows; ++t) {
    float amax = 0;
    for (int64_t i = 0; i < x.cols; ++i) amax = std::max(amax, std::fabs(x.row(t)[i]));
    const float scale = amax / 448.0f;
    for (int64_t i = 0; i < x.cols; ++i) {
      const float v = x.row(t)[i] * (1.0f / scale);
      const double hi = nearest_e4m3(v);
      q[i] = (hi + nearest_e4m3(v - hi)) * scale;
    }
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < x.cols; ++i) s += q[i] * w[o * x.cols + i];
      y.row(t)[o] = static_cast<float>(s);
    }
  }
  return y;
}

TEST(CastFp8, PerTokenActivationsQuantizeEachRowBeforeTheProduct) {
  TestModelSpec spec;
  spec.hidden = 96, spec.heads = 3, spec.kv_heads = 1, spec.head_dim = 32, spec.intermediate = 160;
  spec.embed = DType::Q8_0, spec.q = DType::Q8_0, spec.k = DType::Q8_0, spec.v = DType::Q8_0, spec.o = DType::Q8_0;
  spec.gate = DType::Q8_0, spec.up = DType::Q8_0, spec.down = DType::Q8_0, spec.lm_head = DType::Q8_0;
  const auto m = testing::make_test_model(spec);
  const std::vector<int32_t> ids = testing::random_token_ids(9, spec.vocab, 5);
  const ir::Module cast = cast_module(m->model, "{ops=all per-token-activations=1}");
  EXPECT_NE(cast.print(false).find("aprc.fp8_per_token_activations"), std::string::npos);

  // Every product of a prefill: its recorded output against the brute-force product of its
  // recorded input (the down projection reads mlp.mul; the logits read final_norm).
  reference::RecordedValues values;
  {
    const ModelWeights weights(m->model);
    Interpreter interp(cast, weights);
    interp.run("prefill", ids, 0, &values);
  }
  auto fp8_weight = [&](const std::string& name) {
    const TensorRef& t = m->model.tensor(name);
    const std::vector<float> v = dequantize(t.view());
    const auto q = quantize_tensor(DType::FP8_E4M3, v.data(), t.shape[0], t.shape[1]);
    return dequantize(TensorView{DType::FP8_E4M3, t.shape, q});
  };
  for (int64_t l = 0; l < spec.layers; ++l) {
    const std::string p = "layers." + std::to_string(l);
    const Activation& x = values.values.at(p + ".mlp.mul");
    const Activation want = per_token_product(x, fp8_weight(names::layer(l, "mlp.down_proj.weight")), spec.hidden);
    EXPECT_LT(testing::relative_error(values.values.at(p + ".mlp.down_proj"), want), 1e-6) << p;
  }
  const Activation want_logits =
      per_token_product(values.values.at("final_norm"), fp8_weight(names::lm_head()), spec.vocab);
  EXPECT_LT(testing::relative_error(values.values.at("logits"), want_logits), 1e-6);

  // Decode keeps f32 activations: it equals the module cast without per-token scaling; the
  // prefill does not.
  const ir::Module weights_only = cast_module(m->model, "{ops=all}");
  const ModelWeights weights(m->model);
  Interpreter a(cast, weights), b(weights_only, weights);
  const std::vector<int32_t> one{ids[0]};
  EXPECT_EQ(a.run("decode", one, 0).data, b.run("decode", one, 0).data);
  a.reset();
  b.reset();
  EXPECT_NE(a.run("prefill", ids, 0).data, b.run("prefill", ids, 0).data);
}

TEST(CastFp8, RefusesAnUnknownGroup) {
  const auto m = testing::make_test_model(TestModelSpec{});
  ir::Module module = ir::build_module(m->model);
  try {
    passes::run_pipeline(module, "aprc-cast-fp8{ops=mlp,attention}");
    FAIL() << "ops=attention is no group";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown group 'attention'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc
