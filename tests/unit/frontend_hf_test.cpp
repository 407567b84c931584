#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "aprc/apr.h"
#include "aprc/model.h"
#include "frontend_test_expect.h"
#include "frontend_test_util.h"
#include "frontend_test_writers.h"

namespace aprc {
namespace {

namespace fs = std::filesystem;
using testing::fails_with;

constexpr const char* kFolder = "qwen2-hf-tiny";

TEST(HfFolder, FixtureConfigTensorsAndTokenizer) {
  APRC_FIXTURE_OR_SKIP(dir, kFolder);
  const Model m = load_model(dir);
  EXPECT_EQ(m.format, "safetensors");
  const ModelConfig& c = m.config;
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.intermediate_size, 192);
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);  // from rope_parameters
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(m.tensors.size(), 26u);
  for (const auto& [name, t] : m.tensors) EXPECT_EQ(t.dtype, DType::BF16) << name;
  EXPECT_EQ(m.tensor("model.embed_tokens.weight").shape, (std::vector<int64_t>{151936, 64}));
  EXPECT_EQ(m.tensor("model.layers.1.self_attn.k_proj.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(m.tensor("model.layers.1.mlp.down_proj.weight").shape, (std::vector<int64_t>{64, 192}));
  // The two shards are both mapped.
  EXPECT_NE(m.tensor("model.embed_tokens.weight").file_path(), m.tensor("model.norm.weight").file_path());
  const TokenizerData& t = m.tokenizer;
  EXPECT_EQ(t.tokens.size(), 151936u);  // padded to the embedding rows, as GGUF converters do
  EXPECT_EQ(t.tokens[151645], "<|im_end|>");
  EXPECT_EQ(t.tokens[151700], "[PAD151700]");
  EXPECT_EQ(t.eos_id, 151645);
  EXPECT_EQ(t.bos_id, 151643);  // tokenizer_config says null; generation_config.json has it
  EXPECT_EQ(t.pad_id, 151643);
  EXPECT_EQ(t.merges.size(), 151387u);
}

TEST(HfFolder, ImportRoundTripsBf16BitForBit) {
  APRC_FIXTURE_OR_SKIP(dir, kFolder);
  testing::ScratchDir scratch;
  const Model m = load_model(dir);
  write_apr(m, scratch.file("hf.apr"));
  testing::expect_same_model(m, load_model(scratch.file("hf.apr")));
}

// The same folder with the older config spellings (rope_theta at the top, torch_dtype, and a
// rope_scaling of null) reads as the same model.
TEST(HfFolder, OlderConfigSpellingsGiveTheSameConfig) {
  APRC_FIXTURE_OR_SKIP(dir, kFolder);
  testing::ScratchDir scratch;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "config.json") fs::create_symlink(e.path(), scratch.path() / e.path().filename());
  testing::write_text(scratch.file("config.json"), R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "torch_dtype": "bfloat16",
    "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 4096, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "rope_scaling": null, "tie_word_embeddings": true, "vocab_size": 151936,
    "bos_token_id": 151643, "eos_token_id": 151645})");
  EXPECT_EQ(load_model(scratch.path().string()).config, load_model(dir).config);
}

// A folder with one model.safetensors (f32 and bf16), no tokenizer, and an untied lm_head.
TEST(HfFolder, SingleFileCheckpoint) {
  testing::ScratchDir scratch;
  ModelConfig c = testing::tiny_config();
  c.tied_embeddings = false;
  const Model m = testing::tiny_model(c, DType::BF16);
  std::vector<testing::StTensorOut> st;
  for (const auto& [name, t] : m.tensors)
    st.push_back({name, t.dtype == DType::BF16 ? "BF16" : "F32", t.shape, {t.bytes.begin(), t.bytes.end()}});
  testing::write_bytes(scratch.file("model.safetensors"), testing::safetensors_bytes(st));
  testing::write_text(scratch.file("config.json"), R"({"model_type": "qwen2", "hidden_size": 256,
    "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "vocab_size": 300,
    "tie_word_embeddings": false})");
  const Model back = load_model(scratch.path().string());
  EXPECT_EQ(back.config, c);
  EXPECT_TRUE(back.tokenizer.empty());
  ASSERT_EQ(back.tensors.size(), m.tensors.size());
  for (const auto& [name, t] : m.tensors) {
    const TensorRef& b = back.tensor(name);
    EXPECT_EQ(b.dtype, t.dtype);
    EXPECT_EQ(b.shape, t.shape);
    EXPECT_EQ(std::vector<uint8_t>(b.bytes.begin(), b.bytes.end()), std::vector<uint8_t>(t.bytes.begin(), t.bytes.end()));
  }
  // A file in the folder names the folder.
  EXPECT_EQ(load_model(scratch.file("config.json")).tensors.size(), m.tensors.size());
}

TEST(HfFolder, BadFoldersNameTheFileAndKey) {
  APRC_FIXTURE_OR_SKIP(dir, kFolder);
  testing::ScratchDir scratch;
  const std::string config = [&] {
    std::ifstream f(dir + "/config.json");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  // The shards only: without tokenizer.json each load stays quick.
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") fs::create_symlink(e.path(), scratch.path() / e.path().filename());
  const std::string index = [&] {
    std::ifstream f(dir + "/model.safetensors.index.json");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  auto with = [&](const std::string& cfg, const std::string& idx) {
    testing::write_text(scratch.file("config.json"), cfg);
    testing::write_text(scratch.file("model.safetensors.index.json"), idx);
    return scratch.path().string();
  };
  auto replace = [](std::string s, const std::string& a, const std::string& b) {
    const size_t at = s.find(a);
    EXPECT_NE(at, std::string::npos) << a;
    return at == std::string::npos ? s : s.replace(at, a.size(), b);
  };
  EXPECT_TRUE(fails_with([&] { load_model(with(config, index)); }, {}) == false);  // the unedited copy loads
  EXPECT_TRUE(fails_with([&] { load_model(with(replace(config, "\"hidden_size\"", "\"hidden_sizes\""), index)); },
                         {"config.json: key 'hidden_size': missing"}));
  EXPECT_TRUE(fails_with([&] { load_model(with(replace(config, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"), index)); },
                         {"config 'num_kv_heads' (3) does not divide 'num_heads' (4)"}));
  EXPECT_TRUE(fails_with([&] { load_model(with(replace(config, "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\""), index)); },
                         {"config.json: key 'rope_parameters.rope_type': rope scaling 'yarn' is not supported"}));
  EXPECT_TRUE(fails_with([&] { load_model(with(replace(config, "\"intermediate_size\": 192", "\"intermediate_size\": 200"), index)); },
                         {"model-00002-of-00002.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight'",
                          "shape [192, 64] disagrees with the config: expected [200, 64] (intermediate_size, hidden_size)"}));
  EXPECT_TRUE(fails_with([&] { load_model(with(config, replace(index, "\"model.norm.weight\": \"model-00002-of-00002.safetensors\"",
                                                              "\"model.norm.weight\": \"model-00001-of-00002.safetensors\""))); },
                         {"model.safetensors.index.json: tensor 'model.norm.weight' is not in model-00001-of-00002.safetensors"}));
  EXPECT_TRUE(fails_with([&] { load_model(with(config, replace(index, "\"model.norm.weight\": \"model-00002-of-00002.safetensors\"",
                                                              "\"model.norm.weight\": \"../x.safetensors\""))); },
                         {"is not a file name in the folder"}));
}

}  // namespace
}  // namespace aprc
