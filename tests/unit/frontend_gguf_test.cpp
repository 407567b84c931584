#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "../../frontend/tensor_names.h"
#include "aprc/error.h"
#include "aprc/gguf.h"
#include "aprc/model.h"
#include "frontend_test_util.h"

namespace aprc {
namespace {

constexpr const char* kFixture = "qwen2-tiny-q4km.gguf";

TEST(TensorNames, GgufNamesMapOntoHuggingFaceNames) {
  EXPECT_EQ(canonical_tensor_name("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(canonical_tensor_name("output.weight"), "lm_head.weight");
  EXPECT_EQ(canonical_tensor_name("output_norm.weight"), "model.norm.weight");
  EXPECT_EQ(canonical_tensor_name("blk.12.attn_q.bias"), "model.layers.12.self_attn.q_proj.bias");
  EXPECT_EQ(canonical_tensor_name("blk.0.attn_output.weight"), "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(canonical_tensor_name("blk.3.ffn_norm.weight"), "model.layers.3.post_attention_layernorm.weight");
  EXPECT_EQ(canonical_tensor_name("blk.3.ffn_down.weight"), "model.layers.3.mlp.down_proj.weight");
  // Hugging Face names, unknown names and malformed block numbers pass through unchanged.
  EXPECT_EQ(canonical_tensor_name("model.layers.1.mlp.up_proj.weight"), "model.layers.1.mlp.up_proj.weight");
  EXPECT_EQ(canonical_tensor_name("rope_freqs.weight"), "rope_freqs.weight");
  EXPECT_EQ(canonical_tensor_name("blk.01.attn_q.weight"), "blk.01.attn_q.weight");
  EXPECT_EQ(canonical_tensor_name("blk.x.attn_q.weight"), "blk.x.attn_q.weight");
  EXPECT_EQ(layer_index("model.layers.17.mlp.up_proj.weight"), 17);
  EXPECT_FALSE(layer_index("model.norm.weight").has_value());
}

TEST(GgufModel, FixtureConfigMatchesItsReadme) {
  APRC_FIXTURE_OR_SKIP(path, kFixture);
  const Model m = load_model(path);
  EXPECT_EQ(m.format, "gguf");
  const ModelConfig& c = m.config;
  EXPECT_EQ(c.architecture, "qwen2");
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.intermediate_size, 768);
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.rope_type, RopeType::Neox);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_NEAR(c.rms_norm_eps, 1e-6, 1e-12);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(m.tensors.size(), 50u);
}

TEST(GgufModel, FixtureTensorsAreRenamedWithOutInShapesAndMappedBytes) {
  APRC_FIXTURE_OR_SKIP(path, kFixture);
  const Model m = load_model(path);
  struct Want {
    std::string name, source;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Want> want = {
      {"model.embed_tokens.weight", "token_embd.weight", DType::Q4_K, {151936, 256}},
      {"model.norm.weight", "output_norm.weight", DType::F32, {256}},
      {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", DType::Q4_K, {256, 256}},
      {"model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias", DType::F32, {256}},
      {"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", DType::Q4_K, {128, 256}},
      {"model.layers.2.self_attn.v_proj.weight", "blk.2.attn_v.weight", DType::Q6_K, {128, 256}},
      {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight", DType::Q4_K, {256, 256}},
      {"model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight", DType::Q4_K, {768, 256}},
      {"model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight", DType::Q4_K, {768, 256}},
      {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight", DType::Q6_K, {256, 768}},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", DType::F32, {256}},
      {"model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight", DType::F32, {256}},
  };
  for (const Want& w : want) {
    SCOPED_TRACE(w.name);
    const TensorRef& t = m.tensor(w.name);
    EXPECT_EQ(t.source_name, w.source);
    EXPECT_EQ(t.dtype, w.dtype);
    EXPECT_EQ(t.shape, w.shape);
    EXPECT_EQ(t.bytes.size(), *tensor_bytes(w.dtype, w.shape));
    ASSERT_TRUE(t.file);
    // The bytes are a view into the mapped file, not a copy.
    EXPECT_GE(t.bytes.data(), t.file->data());
    EXPECT_LE(t.bytes.data() + t.bytes.size(), t.file->data() + t.file->size());
  }
  EXPECT_EQ(m.find("lm_head.weight"), nullptr);
  EXPECT_EQ(&m.output_weight(), &m.tensor("model.embed_tokens.weight"));
  // Norm weights are real f32 numbers (the view is at the right place, not in the middle of a block).
  const auto norm = dequantize(m.tensor("model.norm.weight").view());
  double sum = 0;
  for (float v : norm) {
    ASSERT_TRUE(std::isfinite(v));
    sum += std::fabs(v);
  }
  EXPECT_GT(sum, 0.0);
}

TEST(GgufModel, FixtureTokenizerComesFromTokenizerGgmlKeys) {
  APRC_FIXTURE_OR_SKIP(path, kFixture);
  const Model m = load_model(path);
  const TokenizerData& t = m.tokenizer;
  EXPECT_EQ(t.model, "gpt2");
  EXPECT_EQ(t.pre, "qwen2");
  ASSERT_EQ(t.tokens.size(), 151936u);
  ASSERT_EQ(t.token_types.size(), 151936u);
  EXPECT_EQ(t.merges.size(), 151387u);
  EXPECT_EQ(t.tokens[0], "!");
  EXPECT_EQ(t.merges[0], "Ġ Ġ");
  EXPECT_EQ(t.tokens[151645], "<|im_end|>");
  EXPECT_EQ(t.token_types[151645], TokenType::Control);
  EXPECT_EQ(t.token_types[151657], TokenType::UserDefined);  // <tool_call>
  EXPECT_EQ(t.token_types[151669], TokenType::Unused);       // [PAD151669]
  EXPECT_EQ(t.token_types[100], TokenType::Normal);
  EXPECT_EQ(t.eos_id, 151645);
  EXPECT_EQ(t.bos_id, 151643);
  EXPECT_EQ(t.pad_id, 151643);
  EXPECT_FALSE(t.add_bos);
  EXPECT_NE(t.chat_template.find("<|im_start|>"), std::string::npos);
}

TEST(GgufParse, ReadsEveryKeyValueOfTheFixture) {
  APRC_FIXTURE_OR_SKIP(path, kFixture);
  auto file = MappedFile::open(path);
  const GgufFile g = parse_gguf(file->bytes(), path);
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.kvs.size(), 22u);
  EXPECT_EQ(g.tensors.size(), 50u);
  EXPECT_EQ(g.alignment, 32u);
  EXPECT_EQ(g.data_offset % 32, 0u);
  EXPECT_EQ(g.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(g.get_uint("qwen2.block_count"), 4u);
  EXPECT_FALSE(g.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(g.find("tokenizer.ggml.tokens")->count, 151936u);
  // Type errors name the key.
  try {
    g.get_string("qwen2.block_count");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("key 'qwen2.block_count': expected a string, got u32"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace aprc
