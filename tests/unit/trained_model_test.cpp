// The trained model committed at models/ (qwen2.5-stdlib-tiny, see README): the perplexity of a
// held-out passage on its compiled CPU plan stays at the value recorded when it was committed
// (models/qwen2.5-stdlib-tiny.json), so that a change in any pass, kernel or the quantizers that
// makes the model worse shows up as a number; greedy text from the plan equals the reference
// interpreter's; and the APR file holds the same tensors as the GGUF file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "aprc/codegen/compile.h"
#include "aprc/generate.h"
#include "aprc/interpreter/reference_model.h"
#include "aprc/model.h"
#include "aprc/perplexity.h"
#include "aprc/runtime.h"
#include "aprc/tokenizer.h"

#ifndef APRC_MODELS_DIR
#define APRC_MODELS_DIR "models"
#endif

namespace aprc {
namespace {

namespace fs = std::filesystem;

const std::string kDir = APRC_MODELS_DIR;
const std::string kGguf = kDir + "/qwen2.5-stdlib-tiny.q4_k_m.gguf";
const std::string kApr = kDir + "/qwen2.5-stdlib-tiny.apr";
const std::string kRecord = kDir + "/qwen2.5-stdlib-tiny.json";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

class TrainedModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kGguf)) return;
    plan_ = (fs::path(::testing::TempDir()) / "stdlib-tiny.plan").string();
    codegen::CompileOptions options;  // as `aprc compile` does by default
    codegen::compile_plan(load_model(kGguf), plan_, options);
  }
  static void TearDownTestSuite() {
    if (!plan_.empty()) fs::remove(plan_);
  }
  void SetUp() override {
    if (!fs::exists(kGguf)) GTEST_SKIP() << kGguf << " is absent";
  }
  static std::string plan_;
};
std::string TrainedModel::plan_;

TEST_F(TrainedModel, HeldOutPerplexityOnTheCpuPlanIsTheRecordedOne) {
  const nlohmann::json record = nlohmann::json::parse(read_file(kRecord));
  const nlohmann::json& passage = record.at("passages").at("heldout-short.txt");
  auto session = Session::open(plan_, "cpu");
  const Tokenizer tokenizer(session->plan().manifest().tokenizer, plan_);
  const std::vector<int32_t> ids = tokenizer.encode(read_file(kDir + "/heldout-short.txt"));
  EXPECT_EQ(static_cast<int64_t>(ids.size()), passage.at("tokens").get<int64_t>());  // as PyTorch's tokenizer counts
  const PerplexityOptions options{passage.at("window").get<int64_t>(), passage.at("stride").get<int64_t>()};
  const PerplexityResult r = sliding_window_perplexity(ids, session->vocab_size(), options, [&](std::span<const int32_t> w) {
    session->reset();
    return session->prefill_all(w);
  });
  const double recorded = passage.at("perplexity_q4_k_m_cpu").get<double>();
  EXPECT_EQ(r.scored, static_cast<int64_t>(ids.size()) - 1);
  EXPECT_NEAR(r.perplexity(), recorded, 0.005 * recorded) << "the CPU plan's perplexity moved";
  std::printf("heldout-short.txt: perplexity %.4f (recorded %.4f; PyTorch bf16 checkpoint %.4f)\n", r.perplexity(),
              recorded, passage.at("perplexity_bf16_pytorch").get<double>());
}

TEST_F(TrainedModel, GreedyFibonacciOnTheCpuPlanIsTheReferenceInterpreters) {
  auto session = Session::open(plan_, "cpu");
  reference::ReferenceModel reference(kGguf);
  const Tokenizer tokenizer(reference.model().tokenizer, kGguf);
  const std::vector<int32_t> prompt = tokenizer.encode("def fibonacci(n):", false);
  GenerateOptions options;
  options.max_new_tokens = 48;
  options.sampler.temperature = 0;
  std::string text;
  const GenerateResult want = generate(reference, tokenizer, prompt, options, [&](std::string_view s) { text += s; });
  const GenerateResult got = generate(*session, tokenizer, prompt, options, [](std::string_view) {});
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_GE(want.tokens.size(), 8u);
  std::printf("def fibonacci(n):%s\n", text.c_str());
}

TEST_F(TrainedModel, AprFileHoldsTheGgufFilesTensors) {
  if (!fs::exists(kApr)) GTEST_SKIP() << kApr << " is absent";
  const Model gguf = load_model(kGguf), apr = load_model(kApr);
  EXPECT_EQ(gguf.config.hidden_size, apr.config.hidden_size);
  EXPECT_EQ(gguf.config.num_layers, apr.config.num_layers);
  EXPECT_TRUE(apr.config.tied_embeddings);
  ASSERT_EQ(gguf.tensors.size(), apr.tensors.size());
  for (const auto& [name, t] : gguf.tensors) {
    const TensorRef& a = apr.tensor(name);
    EXPECT_EQ(a.dtype, t.dtype) << name;
    EXPECT_EQ(a.shape, t.shape) << name;
    ASSERT_EQ(a.bytes.size(), t.bytes.size()) << name;
    EXPECT_EQ(std::memcmp(a.bytes.data(), t.bytes.data(), t.bytes.size()), 0) << name;
  }
  EXPECT_EQ(Tokenizer(apr.tokenizer, kApr).encode("def fibonacci(n):"), Tokenizer(gguf.tokenizer, kGguf).encode("def fibonacci(n):"));
}

}  // namespace
}  // namespace aprc
