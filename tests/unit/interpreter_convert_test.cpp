// The model-backed WeightSource materializes weights whose declared type differs from the stored
// tensor through convert_weight: a module declaring other encodings computes exactly what the same
// module computes on a model whose tensors were converted by hand.
#include <gtest/gtest.h>

#include <regex>

#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"
#include "aprc/interpreter/interpreter.h"
#include "aprc/interpreter/model_weights.h"
#include "aprc/ir/builder.h"
#include "ir_test_model.h"

namespace aprc {
namespace {

using reference::Activation;
using reference::Interpreter;
using reference::ModelWeights;

// `model` with the tensors named in `which` replaced by their conversion to `dtype`.
std::unique_ptr<testing::TestModel> hand_converted(const Model& model, const std::regex& which, DType dtype,
                                                   ScaleGranularity scales) {
  return testing::with_tensors_replaced(model, which, dtype, [&](const TensorRef& t) {
    return convert_weight(t.view(), dtype, scales, WeightLayout::RowMajor);
  });
}

Activation prefill(const ir::Module& module, const reference::WeightSource& weights, const std::vector<int32_t>& ids) {
  Interpreter interp(module, weights);
  return interp.run("prefill", ids, 0);
}

TEST(InterpreterConvert, DeclaredEncodingsAreMaterializedFromTheStoredTensors) {
  const auto m = testing::make_test_model(testing::TestModelSpec{});
  const std::vector<int32_t> ids{5, 17, 300, 2, 99};
  const std::string text = ir::build_module(m->model).print(false);

  // v projections (stored q6_k [128, 256]) declared q8_0: as if the model held q8_0 tensors.
  {
    const auto cast = hand_converted(m->model, std::regex(R"(v_proj\.weight$)"), DType::Q8_0, ScaleGranularity::PerChannel);
    const ir::Module declared = ir::parse_module(
        std::regex_replace(text, std::regex(R"(!aprc\.weight<q6_k, \[128, 256\]>)"), "!aprc.weight<q8_0, [128, 256]>"),
        "declared.mlir");
    const ir::Module built = ir::build_module(cast->model);
    const Activation got = prefill(declared, ModelWeights(m->model), ids);
    const Activation want = prefill(built, ModelWeights(cast->model), ids);
    EXPECT_EQ(got.data, want.data);
    // ... and not what the stored q6_k weights compute.
    EXPECT_NE(got.data, prefill(ir::build_module(m->model), ModelWeights(m->model), ids).data);
  }

  // The down projections (q6_k [256, 512]) declared fp8 per_tensor: the hand-cast model holds fp8
  // tensors, which the builder declares per_channel, so its module is edited the same way.
  {
    const auto cast = hand_converted(m->model, std::regex(R"(down_proj\.weight$)"), DType::FP8_E4M3,
                                     ScaleGranularity::PerTensor);
    const ir::Module declared = ir::parse_module(
        std::regex_replace(text, std::regex(R"(!aprc\.weight<q6_k, \[256, 512\]>)"),
                           "!aprc.weight<fp8e4m3, [256, 512], per_tensor>"),
        "declared.mlir");
    const ir::Module built = ir::parse_module(
        std::regex_replace(ir::build_module(cast->model).print(false), std::regex("per_channel"), "per_tensor"),
        "built.mlir");
    EXPECT_EQ(prefill(declared, ModelWeights(m->model), ids).data, prefill(built, ModelWeights(cast->model), ids).data);
  }
}

TEST(InterpreterConvert, ATypeTheTensorCannotTakeNamesTheTensor) {
  testing::TestModelSpec spec;
  spec.intermediate = 320;  // down_proj rows of 320 are not whole q4_k blocks
  spec.down = DType::Q8_0;
  const auto m = testing::make_test_model(spec);
  const ModelWeights weights(m->model);
  reference::WeightDecl decl{"layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight", DType::Q4_K,
                             {256, 320}};
  try {
    weights.weight(decl);
    FAIL() << "a [256, 320] weight cannot be q4_k";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_EQ(std::string(e.what()),
              "synthetic-model: tensor 'model.layers.0.mlp.down_proj.weight' (weight @layers.0.mlp.down_proj.weight): "
              "cannot convert a q8_0 [256, 320] weight to q4_k [256, 320]: rows of 320 are not whole blocks of q4_k "
              "(256 weights)");
  }
}

}  // namespace
}  // namespace aprc
