// The IR builder on synthetic models: the module (compact and expanded) verifies, round-trips through
// the parser, names its ops and weights as docs/design.md says, groups the layers by their weight
// types, and refuses models it cannot express.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "aprc/error.h"
#include "aprc/ir/builder.h"
#include "ir_test_model.h"

namespace aprc {
namespace {

using testing::make_test_model;
using testing::TestModelSpec;

std::set<std::string> loc_names(const std::string& text) {
  std::set<std::string> names;
  const std::regex loc(R"re(loc\("([^"]+)"\))re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), loc); it != std::sregex_iterator(); ++it)
    names.insert((*it)[1]);
  return names;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(IrBuilder, BuildsTheThreeFunctionsWithEveryOpNamed) {
  const auto m = make_test_model(TestModelSpec{});
  const ir::Module module = ir::build_module(m->model);
  const std::string plain = module.print(false), text = module.print();
  EXPECT_NE(plain.find("func.func @prefill(%arg0: tensor<?xi32>, %arg1: index) -> tensor<?x301xf32>"), std::string::npos);
  EXPECT_NE(plain.find("func.func @prefill_last(%arg0: tensor<?xi32>, %arg1: index) -> tensor<1x301xf32>"), std::string::npos);
  EXPECT_NE(plain.find("func.func @decode(%arg0: tensor<1xi32>, %arg1: index) -> tensor<1x301xf32>"), std::string::npos);

  const std::set<std::string> names = loc_names(text);
  for (const char* op : {"embed", "final_norm", "logits"}) EXPECT_TRUE(names.count(op)) << op;
  for (int layer = 0; layer < 2; ++layer)
    for (const char* op : {"attn_norm", "attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.q_rope", "attn.k_rope",
                           "attn.kv_append", "attn.attention", "attn.o_proj", "attn_residual", "mlp_norm",
                           "mlp.gate_proj", "mlp.up_proj", "mlp.silu", "mlp.mul", "mlp.down_proj", "mlp_residual"}) {
      const std::string name = "layers." + std::to_string(layer) + "." + op;
      EXPECT_TRUE(names.count(name)) << name;
    }
  // 1 embedding + 2 layers x (2 norms + 7 projections + 3 biases) + final norm + output.
  EXPECT_EQ(count(text, "aprc.weight @"), 1u + 2 * 12 + 2);
  EXPECT_EQ(count(text, "aprc.kv_cache @"), 2u);
  EXPECT_NE(text.find("aprc.weight @layers.1.attn.v_proj.weight : !aprc.weight<q6_k, [128, 256]> "
                      "{source = \"model.layers.1.self_attn.v_proj.weight\"}"),
            std::string::npos);
  EXPECT_NE(text.find("aprc.kv_cache @layers.0.kv {head_dim = 64 : i64, max_seq = 64 : i64, num_kv_heads = 2 : i64}"),
            std::string::npos);
  EXPECT_NE(text.find("aprc.config = {architecture = \"qwen2\""), std::string::npos);
  // Three functions, each ending in one logits op; only @prefill_last keeps the last row alone.
  EXPECT_EQ(count(text, "aprc.logits"), 3u);
  EXPECT_EQ(count(text, "last_only"), 1u);
}

TEST(IrBuilder, PrintedModulesParseBackToTheSameText) {
  const auto m = make_test_model(TestModelSpec{});
  for (bool locations : {false, true}) {
    const std::string text = ir::build_module(m->model).print(locations);
    EXPECT_EQ(ir::parse_module(text, "built.mlir").print(locations), text);
    const std::string compact = ir::build_compact_module(m->model).print(locations);
    EXPECT_EQ(ir::parse_module(compact, "compact.mlir").print(locations), compact);
  }
}

TEST(IrBuilder, TiedOutputReadsTheEmbeddingAndBiasesAreOptional) {
  TestModelSpec spec;
  spec.tied = true;
  spec.qkv_biases = false;
  const auto m = make_test_model(spec);
  const std::string text = ir::build_module(m->model).print(false);
  EXPECT_NE(text.find("aprc.weight @logits.weight : !aprc.weight<q4_k, [301, 256]> {source = \"model.embed_tokens.weight\"}"),
            std::string::npos);
  EXPECT_EQ(text.find(".bias"), std::string::npos);
}

TEST(IrBuilder, ModelIrIsKilobytesWhateverTheWeights) {
  // A Qwen2.5-7B-shaped model: the builder reads dtypes and shapes, never bytes, so the tensors
  // here have none. Its IR is O(layers), not O(parameters).
  TestModelSpec spec;
  const auto m = make_test_model(spec);
  Model big = m->model;
  ModelConfig& c = big.config;
  c.hidden_size = 3584, c.num_layers = 28, c.num_heads = 28, c.num_kv_heads = 4, c.head_dim = 128;
  c.intermediate_size = 18944, c.vocab_size = 152064, c.max_position_embeddings = 32768;
  big.tensors.clear();
  auto add = [&](const std::string& name, DType dtype, std::vector<int64_t> shape) {
    TensorRef t;
    t.name = name;
    t.dtype = dtype;
    t.shape = std::move(shape);
    big.tensors[name] = t;
  };
  const int64_t h = 3584, kv = 512, ff = 18944;
  add(names::embed_tokens(), DType::Q4_K, {152064, h});
  add(names::lm_head(), DType::Q6_K, {152064, h});
  add(names::final_norm(), DType::F32, {h});
  for (int64_t i = 0; i < 28; ++i) {
    auto n = [&](const char* rest) { return names::layer(i, rest); };
    add(n("input_layernorm.weight"), DType::F32, {h});
    add(n("post_attention_layernorm.weight"), DType::F32, {h});
    add(n("self_attn.q_proj.weight"), DType::Q4_K, {h, h});
    add(n("self_attn.q_proj.bias"), DType::F32, {h});
    add(n("self_attn.k_proj.weight"), DType::Q4_K, {kv, h});
    add(n("self_attn.k_proj.bias"), DType::F32, {kv});
    add(n("self_attn.v_proj.weight"), DType::Q6_K, {kv, h});
    add(n("self_attn.v_proj.bias"), DType::F32, {kv});
    add(n("self_attn.o_proj.weight"), DType::Q4_K, {h, h});
    add(n("mlp.gate_proj.weight"), DType::Q4_K, {ff, h});
    add(n("mlp.up_proj.weight"), DType::Q4_K, {ff, h});
    add(n("mlp.down_proj.weight"), DType::Q6_K, {h, ff});
  }
  const std::string text = ir::build_module(big).print();
  // 28 layers x 3 functions x ~30 ops: a few hundred bytes per op, nothing per parameter.
  EXPECT_LT(text.size(), 1024u * 1024u);
  // The compact form: one layer function (every layer has the same weight types), O(1) in layers.
  const std::string compact = ir::build_compact_module(big).print();
  EXPECT_LT(compact.size(), 12u * 1024u);
  EXPECT_EQ(count(compact, "func.func private @layer_"), 1u);
  EXPECT_EQ(count(compact, "@layer_a,"), 3 * 27u);
  std::printf("Qwen2.5-7B-shaped IR: %zu bytes, %zu lines; compact %zu bytes, %zu lines\n", text.size(),
              count(text, "\n"), compact.size(), count(compact, "\n"));
}

TEST(IrBuilder, CompactFormHasOneFunctionPerDistinctLayer) {
  // Three layers; the middle one's v projection is q4_k where the others' is q6_k.
  TestModelSpec spec;
  spec.layers = 3;
  const auto base = make_test_model(spec);
  const auto m = testing::with_tensors_replaced(
      base->model, std::regex(R"(model\.layers\.1\.self_attn\.v_proj\.weight)"), DType::Q4_K,
      [](const TensorRef& t) { return testing::random_tensor(DType::Q4_K, t.shape[0], t.shape[1], 0.0625f, 7); });
  const std::string compact = ir::build_compact_module(m->model).print(false);
  EXPECT_EQ(count(compact, "func.func private @layer_"), 2u);
  EXPECT_EQ(count(compact, "aprc.decoder_layers %1, %arg1 [@layer_a, @layer_b, @layer_a]"), 3u);
  EXPECT_NE(compact.find("aprc.layer_weight @layer_b.attn.v_proj.weight : !aprc.weight<q4_k, [128, 256]> "
                         "{source = \"model.layers.{}.self_attn.v_proj.weight\"}"),
            std::string::npos);
  EXPECT_EQ(count(compact, "aprc.layer_kv_cache @kv"), 1u);
  EXPECT_EQ(count(compact, "aprc.weight @"), 3u);  // embed, final norm, logits

  const std::string expanded = ir::build_module(m->model).print(false);
  EXPECT_EQ(expanded.find("layer_"), std::string::npos);
  EXPECT_EQ(expanded.find("decoder_layers"), std::string::npos);
  for (const auto& [layer, type] : {std::pair{0, "q6_k"}, {1, "q4_k"}, {2, "q6_k"}}) {
    const std::string decl = "aprc.weight @layers." + std::to_string(layer) + ".attn.v_proj.weight : !aprc.weight<" +
                             type + ", [128, 256]> {source = \"model.layers." + std::to_string(layer) +
                             ".self_attn.v_proj.weight\"}";
    EXPECT_NE(expanded.find(decl), std::string::npos) << decl;
    EXPECT_NE(expanded.find("aprc.kv_cache @layers." + std::to_string(layer) + ".kv"), std::string::npos);
  }
  // Every function has every layer's ops, each function's decoder rows (decode: 1).
  EXPECT_EQ(count(expanded, "aprc.attention"), 3u * 3u);
  EXPECT_EQ(count(expanded, "@layers.2.kv[%arg1] : tensor<1x128xf32>, tensor<1x128xf32>"), 1u);
}

std::string error_of(const Model& model) {
  try {
    ir::build_module(model);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "(no error)";
}

TEST(IrBuilder, RefusesModelsItCannotExpress) {
  const auto base = make_test_model(TestModelSpec{});

  Model missing = base->model;
  missing.tensors.erase(names::layer(1, "mlp.up_proj.weight"));
  EXPECT_EQ(error_of(missing), "synthetic-model: missing tensor 'model.layers.1.mlp.up_proj.weight'");

  Model bad_shape = base->model;
  bad_shape.tensors[names::layer(0, "self_attn.k_proj.weight")].shape = {256, 256};
  EXPECT_EQ(error_of(bad_shape),
            "synthetic-model: tensor 'model.layers.0.self_attn.k_proj.weight': shape [256, 256], expected "
            "[128, 256] from the config");

  Model bad_dtype = base->model;
  bad_dtype.tensors[names::final_norm()].dtype = DType::I32;
  EXPECT_EQ(error_of(bad_dtype),
            "synthetic-model: tensor 'model.norm.weight': dtype i32 is not a weight encoding aprc compiles");

  TestModelSpec odd;
  odd.hidden = 96;  // q4_k rows must be multiples of 256
  odd.embed = odd.q = odd.k = odd.v = odd.o = odd.gate = odd.up = odd.down = odd.lm_head = DType::F32;
  Model odd_rows = make_test_model(odd)->model;
  odd_rows.tensors[names::embed_tokens()].dtype = DType::Q4_K;
  EXPECT_EQ(error_of(odd_rows),
            "synthetic-model: tensor 'model.embed_tokens.weight': rows of 96 weights are not whole q4_k blocks "
            "(256 weights each)");

  Model bad_heads = base->model;
  bad_heads.config.num_kv_heads = 3;
  EXPECT_EQ(error_of(bad_heads), "synthetic-model: config 'num_kv_heads' (3) does not divide 'num_heads' (4)");

  Model normal_rope = base->model;
  normal_rope.config.rope_type = RopeType::Normal;
  EXPECT_EQ(error_of(normal_rope),
            "synthetic-model: config: rope type 'normal' is not supported (Qwen2 uses NeoX rotate-half)");
}

TEST(IrBuilder, ParseErrorsNameTheFileAndLine) {
  try {
    ir::parse_module("module {\n  aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 63, max_seq = 8}\n}\n", "x.mlir");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_EQ(std::string(e.what()), "x.mlir:2:3: 'aprc.kv_cache' op head_dim must be even (rope rotates halves), got 63");
  }
}

}  // namespace
}  // namespace aprc
