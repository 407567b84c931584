// The generation loop against a scripted model: what it prints, when it stops, and that text is
// only ever emitted as whole UTF-8.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>

#include "aprc/error.h"
#include "aprc/generate.h"
#include "plan_test_util.h"

namespace aprc {
namespace {

constexpr int32_t kStop = 256;

// Answers with a script: after the prompt, the most likely next token is script[k] for the k-th
// generated token (then the stop token).
class ScriptedModel : public LanguageModel {
 public:
  ScriptedModel(std::vector<int32_t> script, int64_t context) : script_(std::move(script)), context_(context) {}
  int64_t vocab_size() const override { return 300; }  // padded past the tokenizer, as real models are
  int64_t context() const override { return context_; }
  int64_t position() const override { return position_; }
  void reset() override { position_ = 0; }
  std::span<const float> prefill(std::span<const int32_t> ids) override {
    if (position_ + static_cast<int64_t>(ids.size()) > context_) throw_bad_input("scripted: context full");
    position_ += static_cast<int64_t>(ids.size());
    fed_.insert(fed_.end(), ids.begin(), ids.end());
    return next_logits();
  }
  std::vector<int32_t> fed_;
  int64_t run_ = 1;  // greedy_run(): a model that picks its greedy tokens itself asks for more
  int64_t greedy_run() const override { return run_; }
  size_t nan_at_ = SIZE_MAX;  // the logits for this generated token hold a NaN (beside the script's maximum)

 private:
  std::span<const float> next_logits() {
    logits_.assign(300, 0.0f);
    const size_t k = generated_++;
    logits_[k < script_.size() ? script_[k] : kStop] = 10.0f;
    if (k == nan_at_) logits_[7] = std::nanf("");
    return logits_;
  }
  std::vector<int32_t> script_;
  int64_t context_;
  int64_t position_ = 0;
  size_t generated_ = 0;
  std::vector<float> logits_;
};

std::vector<int32_t> bytes_of(const std::string& s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

struct Generated {
  GenerateResult result;
  std::vector<std::string> pieces;
  std::string text() const {
    std::string t;
    for (const auto& p : pieces) t += p;
    return t;
  }
};

Generated run(ScriptedModel& model, int64_t max_new, const std::atomic<bool>* interrupt = nullptr,
        std::function<void()> after_piece = {}) {
  static const Tokenizer tokenizer(test::byte_tokenizer(), "bytes");
  GenerateOptions options;
  options.max_new_tokens = max_new;
  options.sampler = SamplerConfig::greedy();
  options.interrupted = interrupt;
  Generated r;
  r.result = generate(model, tokenizer, bytes_of("Hi"), options, [&](std::string_view piece) {
    if (!piece.empty()) r.pieces.emplace_back(piece);
    if (after_piece) after_piece();
  });
  return r;
}

TEST(Generate, StreamsUntilTheStopTokenWithoutPrintingIt) {
  ScriptedModel model(bytes_of("ok!"), 64);
  Generated r = run(model, -1);
  EXPECT_EQ(r.text(), "ok!");
  EXPECT_EQ(r.result.stop, GenerateStop::StopToken);
  EXPECT_EQ(r.result.tokens, bytes_of("ok!"));
  EXPECT_EQ(r.result.prompt_tokens, 2);
  // The prompt, then each generated token but the last (its logits were never needed).
  std::vector<int32_t> fed = bytes_of("Hiok!");
  EXPECT_EQ(model.fed_, fed);
}

TEST(Generate, StopsAtTheTokenLimit) {
  ScriptedModel model(bytes_of("abcdef"), 64);
  Generated r = run(model, 4);
  EXPECT_EQ(r.text(), "abcd");
  EXPECT_EQ(r.result.stop, GenerateStop::Length);
  EXPECT_EQ(model.position(), 2 + 3);
}

TEST(Generate, ALimitOfZeroGeneratesNothing) {
  ScriptedModel model(bytes_of("abcdef"), 64);
  Generated r = run(model, 0);
  EXPECT_EQ(r.text(), "");
  EXPECT_TRUE(r.result.tokens.empty());
  EXPECT_EQ(r.result.stop, GenerateStop::Length);
  EXPECT_EQ(model.position(), 2);  // the prompt only
}

TEST(Generate, EmitsOnlyWholeCharacters) {
  const std::string text = "h\xC3\xA9\xE2\x82\xAC!";  // "hé€!": characters of 1, 2, 3 and 1 bytes
  ScriptedModel model(bytes_of(text), 64);
  Generated r = run(model, -1);
  EXPECT_EQ(r.text(), text);
  for (const std::string& piece : r.pieces) {
    // Each piece ends on a character boundary: its last lead byte has all its continuation bytes.
    size_t i = 0;
    while (i < piece.size()) {
      const unsigned char c = piece[i];
      const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      EXPECT_LE(i + len, piece.size()) << "piece cut inside a character";
      i += len;
    }
  }
  EXPECT_EQ(r.pieces.size(), 4u);
}

TEST(Generate, StopsWhenTheContextIsFull) {
  ScriptedModel model(bytes_of("abcdefgh"), 5);  // the prompt takes 2 positions
  Generated r = run(model, -1);
  EXPECT_EQ(r.result.stop, GenerateStop::ContextFull);
  EXPECT_EQ(r.text(), "abcd");  // 3 decoded positions, and the token sampled from the last logits
  EXPECT_EQ(model.position(), 5);
}

TEST(Generate, StopsCleanlyWhenInterrupted) {
  ScriptedModel model(bytes_of("abcdefgh"), 64);
  std::atomic<bool> interrupt{false};
  int pieces = 0;
  Generated r = run(model, -1, &interrupt, [&] {
    if (++pieces == 3) interrupt = true;
  });
  EXPECT_EQ(r.result.stop, GenerateStop::Interrupted);
  EXPECT_EQ(r.text(), "abc");
}

// Logits holding a NaN stop generation whether the sampler picks the token or decode_greedy does.
TEST(Generate, NaNLogitsStopGreedyRunsAsTheyStopTheSampler) {
  for (int64_t run_length : {1, 3}) {  // 1: decode() and the sampler; 3: decode_greedy
    SCOPED_TRACE(run_length);
    ScriptedModel model(bytes_of("hello"), 64);
    model.run_ = run_length;
    model.nan_at_ = 2;
    EXPECT_THROW(run(model, -1), Error);
    ScriptedModel clean(bytes_of("hello"), 64);  // the same script without the NaN runs to its end
    clean.run_ = run_length;
    EXPECT_EQ(run(clean, -1).text(), "hello");
  }
}

// A model that picks greedy tokens in runs (greedy_run > 1, as a Session on the cuda engine): the same
// text, stop reason and limits as token by token, with runs that end before, at and after a stop token,
// the token limit and the context's end.
TEST(Generate, GreedyRunsGiveTheSameTextAsTokenByToken) {
  struct Case {
    std::string script;
    int64_t context, max_new;
  };
  for (const Case& c : {Case{"ok!", 64, -1}, Case{"abcdefghijklmnopqrstu", 64, -1}, Case{"abcdefghijklmnop", 64, 11},
                        Case{"abcdefghijklmnopqrstuvwxyz", 13, -1}, Case{"abcdefgh", 64, 8}, Case{"abcdefghi", 10, 3}}) {
    SCOPED_TRACE(c.script + " context " + std::to_string(c.context) + " -n " + std::to_string(c.max_new));
    ScriptedModel one(bytes_of(c.script), c.context);
    const Generated want = run(one, c.max_new);
    for (int64_t ahead : {2, 3, 8}) {
      ScriptedModel many(bytes_of(c.script), c.context);
      many.run_ = ahead;
      const Generated got = run(many, c.max_new);
      EXPECT_EQ(got.text(), want.text()) << "runs of " << ahead;
      EXPECT_EQ(got.result.stop, want.result.stop) << "runs of " << ahead;
      EXPECT_EQ(got.result.tokens, want.result.tokens) << "runs of " << ahead;
      EXPECT_LE(many.position(), c.context);
    }
  }
}

}  // namespace
}  // namespace aprc
