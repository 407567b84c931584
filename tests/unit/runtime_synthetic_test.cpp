// Synthetic models: the presets' dimensions, llama.cpp's Q4_K_M type mix, and weights that are
// deterministic, valid and varied, whether made row by row, on many threads, or for a plan.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "aprc/error.h"
#include "aprc/formats/weight_convert.h"
#include "aprc/plan.h"
#include "aprc/synthetic.h"
#include "aprc/thread_pool.h"
#include "plan_test_util.h"

namespace aprc {
namespace {

std::map<std::string, SyntheticTensor> by_name(const ModelConfig& c) {
  std::map<std::string, SyntheticTensor> m;
  for (auto& t : synthetic_tensors(c)) m.emplace(t.name, t);
  return m;
}

std::string layer(int i, const char* rest) { return "model.layers." + std::to_string(i) + "." + rest; }

TEST(SyntheticPresets, HaveThePublishedDimensions) {
  struct Expect {
    const char* name;
    int64_t hidden, inter, layers, heads, kv, head_dim, vocab;
    bool tied;
  };
  for (const Expect& e : {Expect{"qwen2.5-0.5b", 896, 4864, 24, 14, 2, 64, 151936, true},
                          Expect{"qwen2.5-1.5b", 1536, 8960, 28, 12, 2, 128, 151936, true},
                          Expect{"qwen2.5-7b", 3584, 18944, 28, 28, 4, 128, 152064, false},
                          Expect{"tiny", 256, 768, 4, 4, 2, 64, 151936, true}}) {
    ModelConfig c = synthetic_config(e.name);
    EXPECT_EQ(c.hidden_size, e.hidden) << e.name;
    EXPECT_EQ(c.intermediate_size, e.inter) << e.name;
    EXPECT_EQ(c.num_layers, e.layers) << e.name;
    EXPECT_EQ(c.num_heads, e.heads) << e.name;
    EXPECT_EQ(c.num_kv_heads, e.kv) << e.name;
    EXPECT_EQ(c.head_dim, e.head_dim) << e.name;
    EXPECT_EQ(c.vocab_size, e.vocab) << e.name;
    EXPECT_EQ(c.tied_embeddings, e.tied) << e.name;
    EXPECT_EQ(c.rope_theta, 1e6);
    EXPECT_EQ(c.rms_norm_eps, 1e-6);
  }
  EXPECT_THROW(synthetic_config("qwen2.5-3b"), Error);
}

// llama.cpp's Q4_K_M: use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, worked out
// by hand for 28 layers.
TEST(SyntheticPresets, FollowLlamaCppQ4KMTypeChoices7B) {
  auto t = by_name(synthetic_config("qwen2.5-7b"));
  EXPECT_EQ(t.size(), 3u + 28 * 12);
  EXPECT_EQ(t.at("model.embed_tokens.weight").dtype, DType::Q4_K);
  EXPECT_EQ(t.at("lm_head.weight").dtype, DType::Q6_K);
  EXPECT_EQ(t.at("lm_head.weight").shape, (std::vector<int64_t>{152064, 3584}));
  EXPECT_EQ(t.at("model.norm.weight").dtype, DType::F32);
  const std::set<int> more = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27};
  for (int i = 0; i < 28; ++i) {
    const DType expect = more.count(i) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(t.at(layer(i, "self_attn.v_proj.weight")).dtype, expect) << "layer " << i;
    EXPECT_EQ(t.at(layer(i, "mlp.down_proj.weight")).dtype, expect) << "layer " << i;
    EXPECT_EQ(t.at(layer(i, "self_attn.q_proj.weight")).dtype, DType::Q4_K);
    EXPECT_EQ(t.at(layer(i, "self_attn.k_proj.weight")).shape, (std::vector<int64_t>{512, 3584}));
    EXPECT_EQ(t.at(layer(i, "self_attn.o_proj.weight")).dtype, DType::Q4_K);
    EXPECT_EQ(t.at(layer(i, "mlp.gate_proj.weight")).dtype, DType::Q4_K);
    EXPECT_EQ(t.at(layer(i, "mlp.up_proj.weight")).shape, (std::vector<int64_t>{18944, 3584}));
    EXPECT_EQ(t.at(layer(i, "self_attn.q_proj.bias")).dtype, DType::F32);
    EXPECT_EQ(t.at(layer(i, "input_layernorm.weight")).dtype, DType::F32);
  }
}

// The 0.5B model's rows of 896 are not whole 256-weight super-blocks: Q4_K falls back to Q5_0 and
// Q6_K to Q8_0 (the tied embedding, typed as the output, too); ffn_down (rows of 4864) keeps K-quants.
TEST(SyntheticPresets, FallBackWhereRowsAreNotWholeSuperBlocks05B) {
  auto t = by_name(synthetic_config("qwen2.5-0.5b"));
  EXPECT_EQ(t.size(), 2u + 24 * 12);
  EXPECT_FALSE(t.count("lm_head.weight"));
  EXPECT_EQ(t.at("model.embed_tokens.weight").dtype, DType::Q8_0);
  const std::set<int> more = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};  // n = 24: i < 3, i >= 21, (i-3)%3 == 2
  for (int i = 0; i < 24; ++i) {
    EXPECT_EQ(t.at(layer(i, "self_attn.q_proj.weight")).dtype, DType::Q5_0);
    EXPECT_EQ(t.at(layer(i, "self_attn.o_proj.weight")).dtype, DType::Q5_0);
    EXPECT_EQ(t.at(layer(i, "mlp.up_proj.weight")).dtype, DType::Q5_0);
    EXPECT_EQ(t.at(layer(i, "self_attn.v_proj.weight")).dtype, more.count(i) ? DType::Q8_0 : DType::Q5_0) << i;
    EXPECT_EQ(t.at(layer(i, "mlp.down_proj.weight")).dtype, more.count(i) ? DType::Q6_K : DType::Q4_K) << i;
  }
  // 1.5B: 1536 is six super-blocks, so the tied embedding is Q6_K.
  EXPECT_EQ(by_name(synthetic_config("qwen2.5-1.5b")).at("model.embed_tokens.weight").dtype, DType::Q6_K);
}

struct Stats {
  double mean = 0, rms = 0;
  size_t distinct = 0;
  bool finite = true;
};

Stats stats_of(const SyntheticTensor& t, const std::vector<uint8_t>& bytes) {
  std::vector<float> v = dequantize(TensorView{t.dtype, t.shape, bytes});
  Stats s;
  std::set<float> values;
  for (float x : v) {
    s.finite = s.finite && std::isfinite(x);
    s.mean += x;
    s.rms += double(x) * x;
    if (values.size() < 1000) values.insert(x);
  }
  s.mean /= v.size();
  s.rms = std::sqrt(s.rms / v.size());
  s.distinct = values.size();
  return s;
}

TEST(SyntheticWeights, AreValidVariedAndScaledForEveryType) {
  ThreadPool pool(2);
  const ModelConfig c = synthetic_config("qwen2.5-0.5b");
  std::set<DType> seen;
  for (const SyntheticTensor& full : synthetic_tensors(c)) {
    if (full.name.find("layers.") != std::string::npos && full.name.find("layers.0.") == std::string::npos &&
        full.name.find("layers.3.") == std::string::npos)
      continue;
    SyntheticTensor t = full;
    if (t.shape.size() == 2) t.shape[0] = std::min<int64_t>(t.shape[0], 67);  // a few rows suffice
    std::vector<uint8_t> bytes = generate_synthetic_tensor(7, t, pool);
    Stats s = stats_of(t, bytes);
    seen.insert(t.dtype);
    ASSERT_TRUE(s.finite) << t.name;
    EXPECT_GE(s.distinct, t.shape.size() == 2 ? 100u : 30u) << t.name;
    if (t.name.find("norm") != std::string::npos) {
      EXPECT_NEAR(s.mean, 1.0, 0.1) << t.name;
    } else if (t.shape.size() == 2) {
      // About the spread of uniform weights with variance 1/cols, and about centred.
      const double target = 1.0 / std::sqrt(double(t.cols()));
      EXPECT_GT(s.rms, target / 3) << t.name << " " << dtype_name(t.dtype);
      EXPECT_LT(s.rms, target * 3) << t.name << " " << dtype_name(t.dtype);
      EXPECT_LT(std::fabs(s.mean), s.rms / 3) << t.name;
    }
  }
  EXPECT_EQ(seen, (std::set<DType>{DType::F32, DType::Q8_0, DType::Q5_0, DType::Q4_K, DType::Q6_K}));
  // Q6_K and Q4_K at the 7B's widths, whose block scales are subnormal halves.
  for (const char* name : {"model.layers.0.mlp.down_proj.weight", "model.layers.3.mlp.down_proj.weight"}) {
    SyntheticTensor t = by_name(synthetic_config("qwen2.5-7b")).at(name);
    t.shape[0] = 5;
    Stats s = stats_of(t, generate_synthetic_tensor(1, t, pool));
    const double target = 1.0 / std::sqrt(double(t.cols()));
    EXPECT_GT(s.rms, target / 3) << name;
    EXPECT_LT(s.rms, target * 3) << name;
  }
}

TEST(SyntheticWeights, DependOnlyOnSeedNameAndRow) {
  SyntheticTensor t{"model.layers.1.mlp.down_proj.weight", DType::Q6_K, {37, 512}};
  ThreadPool one(1), three(3);
  const std::vector<uint8_t> a = generate_synthetic_tensor(11, t, one);
  EXPECT_EQ(generate_synthetic_tensor(11, t, three), a);
  const uint64_t rb = a.size() / 37;
  std::vector<uint8_t> rows(rb * 5);
  generate_synthetic_rows(11, t, 30, 35, rows.data());
  EXPECT_TRUE(std::equal(rows.begin(), rows.end(), a.begin() + 30 * rb));
  EXPECT_NE(generate_synthetic_tensor(12, t, one), a);
  SyntheticTensor other = t;
  other.name = "model.layers.2.mlp.down_proj.weight";
  EXPECT_NE(generate_synthetic_tensor(11, other, one), a);
}

// A synthetic plan stores no weights, and loading it generates exactly the preset's tensors.
TEST(SyntheticWeights, PlanGeneratesTheSameWeightsWhenLoaded) {
  test::TempDir dir;
  const std::string path = dir.file("tiny.plan");
  const ModelConfig c = synthetic_config("tiny");
  std::vector<SyntheticTensor> tensors = synthetic_tensors(c);
  {
    PlanWriter writer(path);
    for (const SyntheticTensor& t : tensors) {
      PlanWeight w;
      w.name = t.name;
      w.source = t.name;
      w.dtype = t.dtype;
      w.shape = t.shape;
      writer.add_generated_weight(w);
    }
    PlanManifest m;
    m.config = c;
    m.tokenizer = test::small_tokenizer();
    m.kv_cache = KvCacheGeometry{c.num_layers, c.num_kv_heads, c.head_dim, DType::F32, 64};
    m.synthetic = SyntheticInfo{"tiny", 99};
    writer.finish(m);
  }
  EXPECT_LT(test::read_file(path).size(), 64u << 10);
  auto plan = Plan::open(path);
  ASSERT_TRUE(plan->synthetic());
  EXPECT_FALSE(plan->section("weights"));
  ThreadPool pool(2);
  for (size_t i = 0; i < tensors.size(); i += 7) {
    auto bytes = plan->weight(i);
    std::vector<uint8_t> expect = generate_synthetic_tensor(99, tensors[i], pool);
    ASSERT_TRUE(std::equal(bytes.begin(), bytes.end(), expect.begin(), expect.end())) << tensors[i].name;
  }
}

// A plan's weight may be a cast of the preset's tensor (another encoding or layout): it gets what
// the compiler's conversion makes of the generated tensor. Another shape or preset is refused.
TEST(SyntheticWeights, PlanWeightsOfAnotherEncodingAreConvertedAndOthersRefused) {
  test::TempDir dir;
  const std::string down = "model.layers.1.mlp.down_proj.weight";
  auto write = [&](const std::string& preset, DType dtype, std::vector<int64_t> shape) {
    const std::string path = dir.file(preset + dtype_name(dtype) + std::to_string(shape.back()) + ".plan");
    PlanWriter writer(path);
    PlanWeight w;
    w.name = w.source = shape.size() == 1 ? "model.norm.weight" : down;
    w.dtype = dtype;
    w.shape = shape;
    writer.add_generated_weight(w);
    PlanManifest m;
    m.config = synthetic_config("tiny");
    m.tokenizer = test::small_tokenizer();
    m.kv_cache = KvCacheGeometry{4, 2, 64, DType::F32, 64};
    m.synthetic = SyntheticInfo{preset, 1};
    writer.finish(m);
    return path;
  };
  ThreadPool pool(2);
  const SyntheticTensor source = by_name(synthetic_config("tiny")).at(down);
  const std::vector<uint8_t> generated = generate_synthetic_tensor(1, source, pool);
  for (DType dtype : {DType::F32, DType::FP8_E4M3, DType::Q8_0}) {
    auto plan = Plan::open(write("tiny", dtype, {256, 768}));
    const std::vector<uint8_t> expect = convert_weight(TensorView{source.dtype, source.shape, generated}, dtype,
                                                       ScaleGranularity::PerChannel, WeightLayout::RowMajor);
    auto bytes = plan->weight(0);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), expect.begin(), expect.end())) << dtype_name(dtype);
  }
  try {
    Plan::open(write("tiny", DType::F32, {255}));
    ADD_FAILURE() << "accepted a norm of another size";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not have the shape"), std::string::npos) << e.what();
  }
  try {
    Plan::open(write("huge", DType::F32, {256}));
    ADD_FAILURE() << "accepted an unknown preset";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown synthetic preset 'huge'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aprc
