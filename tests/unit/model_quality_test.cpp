// Models written by aprc's own writers and perplexity on real engines: a Hugging Face model written
// as GGUF (q8_0, f16) gives the source's logits through the reference interpreter within the
// format's error; `sliding_window_perplexity` on the reference interpreter and on a compiled CPU
// plan agrees with a brute-force evaluation (each target from a fresh run of its window's tokens
// up to it, through @prefill_last instead of @prefill).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "aprc/codegen/compile.h"
#include "aprc/gguf_writer.h"
#include "aprc/interpreter/reference_model.h"
#include "aprc/model.h"
#include "aprc/perplexity.h"
#include "aprc/runtime.h"
#include "aprc/synthetic_model.h"
#include "aprc/tokenizer.h"
#include "frontend_test_util.h"
#include "logits_compare.h"

namespace aprc {
namespace {

namespace fs = std::filesystem;

using testing::argmax;
using testing::row_error;

TEST(WrittenGguf, HfFixtureLogitsSurviveTheWriter) {
  APRC_FIXTURE_OR_SKIP(hf, "qwen2-hf-tiny");
  testing::ScratchDir dir;
  reference::ReferenceModel source(hf);
  const Tokenizer tokenizer(source.model().tokenizer, hf);
  const std::vector<int32_t> ids =
      tokenizer.encode("def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n");
  const std::vector<float> want = source.prefill_all(ids);
  const int64_t vocab = source.vocab_size();
  // f16 keeps these bf16 weights exactly. q8_0 rounds each weight to 1/254 of its block's largest;
  // the fixture's random weights give nearly flat logits, so that error is a few percent of the
  // largest logit here (measured 2.8e-2), more than on a trained model.
  for (auto [quant, tolerance] : {std::pair{QuantScheme::F16, 1e-5}, std::pair{QuantScheme::Q8_0, 5e-2}}) {
    SCOPED_TRACE(quant_scheme_name(quant));
    const std::string path = dir.file(std::string(quant_scheme_name(quant)) + ".gguf");
    GgufWriteOptions options;
    options.quant = quant;
    write_gguf(source.model(), path, options);
    reference::ReferenceModel written(path);
    EXPECT_EQ(Tokenizer(written.model().tokenizer, path).encode("def fibonacci(n):"), tokenizer.encode("def fibonacci(n):"));
    const std::vector<float> got = written.prefill_all(ids);
    ASSERT_EQ(got.size(), want.size());
    double worst = 0;
    int64_t same_top = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      worst = std::max(worst, row_error(&got[t * vocab], &want[t * vocab], vocab));
      same_top += argmax({&got[t * vocab], size_t(vocab)}) == argmax({&want[t * vocab], size_t(vocab)});
    }
    EXPECT_LE(worst, tolerance);
    EXPECT_GE(same_top, static_cast<int64_t>(ids.size()) * 9 / 10);
    std::printf("%s: largest logit error %.2e of the row's largest, top-1 equal at %lld of %zu positions\n",
                quant_scheme_name(quant), worst, static_cast<long long>(same_top), ids.size());
  }
}

// -log p of each target, long double, from the last row of a fresh @prefill_last run.
double brute_force_nll(reference::ReferenceModel& model, const std::vector<int32_t>& ids, int64_t w, int64_t s,
                       int64_t* scored) {
  const int64_t n = static_cast<int64_t>(ids.size());
  long double sum = 0;
  *scored = 0;
  for (int64_t t = 1; t < n; ++t) {
    int64_t begin = 0;
    while (std::min(begin + w, n) <= t) begin += s;
    if (begin == t) continue;
    model.reset();
    const auto row = model.prefill(std::span<const int32_t>(ids.data() + begin, static_cast<size_t>(t - begin)));
    long double max = row[0], z = 0;
    for (float v : row) max = std::max<long double>(max, v);
    for (float v : row) z += std::exp(static_cast<long double>(v) - max);
    sum += -(static_cast<long double>(row[ids[t]]) - max - std::log(z));
    ++*scored;
  }
  return static_cast<double>(sum);
}

TEST(PerplexityEngines, ReferenceAndCpuPlanMatchTheBruteForce) {
  testing::ScratchDir dir;
  // The synthetic tiny model written as GGUF (its Q4_K/Q6_K blocks as they are), so that the
  // reference interpreter opens it as a file.
  const Model synthetic = synthetic_model("tiny", 11, TokenizerData{}, true);
  write_gguf(synthetic, dir.file("tiny.gguf"));
  reference::ReferenceModel ref(dir.file("tiny.gguf"));
  codegen::CompileOptions options;
  options.max_tokens = 16;
  codegen::compile_plan(ref.model(), dir.file("tiny.plan"), options);
  EngineOptions engine;
  engine.context = 64;
  auto session = Session::open(dir.file("tiny.plan"), "cpu", engine);

  std::vector<int32_t> ids;
  uint32_t x = 3;
  for (int i = 0; i < 45; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(static_cast<int32_t>((x >> 8) % 151000));
  }
  const int64_t vocab = ref.vocab_size();
  for (auto [w, s] : {std::pair<int64_t, int64_t>{16, 8}, {16, 16}}) {
    SCOPED_TRACE("window " + std::to_string(w) + " stride " + std::to_string(s));
    const PerplexityResult r = sliding_window_perplexity(ids, vocab, {w, s}, [&](std::span<const int32_t> win) {
      ref.reset();
      return ref.prefill_all(win);
    });
    const PerplexityResult c = sliding_window_perplexity(ids, vocab, {w, s}, [&](std::span<const int32_t> win) {
      session->reset();
      return session->prefill_all(win);
    });
    int64_t scored = 0;
    const double brute = brute_force_nll(ref, ids, w, s, &scored);
    EXPECT_EQ(r.scored, scored);
    EXPECT_EQ(c.scored, scored);
    EXPECT_EQ(r.scored, s < w ? 44 : 44 - 2);
    EXPECT_NEAR(r.nll_sum, brute, 1e-5 * std::fabs(brute));
    EXPECT_NEAR(c.perplexity(), r.perplexity(), 1e-4 * r.perplexity());
    std::printf("window %lld stride %lld: perplexity reference %.6f, cpu plan %.6f, brute force %.6f\n",
                static_cast<long long>(w), static_cast<long long>(s), r.perplexity(), c.perplexity(),
                std::exp(brute / scored));
  }
}

}  // namespace
}  // namespace aprc
