// The runtime's small API, in the spirit of IREE's: open a plan, open a session on an engine, feed
// it tokens, read logits.
//
//   auto session = aprc::Session::open("model.plan", "cpu");
//   std::span<const float> logits = session->prefill(prompt_ids);   // the last position's logits
//   logits = session->decode(next_id);                              // one more token
//
// The generation loop (generate.h) drives any LanguageModel, so that the reference interpreter and
// every engine generate text the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/engine.h"
#include "aprc/plan.h"

namespace aprc {

// A model with a context: the tokens fed so far, and the logits for the next one.
class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t context() const = 0;   // positions it can hold
  virtual int64_t position() const = 0;  // tokens fed so far
  virtual void reset() = 0;              // forget every token
  // Feeds `ids` after those so far; returns the last one's logits (vocab_size floats, valid until
  // the next call). Error(BadInput) when they do not fit the context or an id is not in the
  // vocabulary.
  virtual std::span<const float> prefill(std::span<const int32_t> ids) = 0;
  virtual std::span<const float> decode(int32_t id) { return prefill(std::span<const int32_t>(&id, 1)); }
  // Greedy decoding: feeds `first`, then each token it picks (the argmax of the logits, the first of
  // equal ones), out.size() tokens; out[i] is the token after the i-th fed (the last is picked, not fed).
  // Logits holding a NaN are an error here as in the Sampler. This runs decode() and an argmax here; a
  // Session on the cuda engine picks the tokens on the GPU and runs the steps back to back
  // (Engine::decode_greedy). The same tokens either way.
  virtual void decode_greedy(int32_t first, std::span<int32_t> out);
  // How many greedy tokens a caller should ask decode_greedy for at once: 1 where each costs a decode()
  // (no gain in asking ahead: tokens past a stop would be decoded for nothing; generate() then keeps to
  // decode() and its sampler); more where the model picks them itself and a longer run saves host round
  // trips (a Session asks its engine: Engine::greedy_run).
  virtual int64_t greedy_run() const { return 1; }
};

// A plan running on an engine. Prompts longer than a function's max_tokens run in chunks.
class Session : public LanguageModel {
 public:
  Session(std::shared_ptr<const Plan> plan, std::unique_ptr<Engine> engine);
  // Plan::open + open_engine; `engine` empty picks default_engine(plan).
  static std::unique_ptr<Session> open(const std::string& plan_path, std::string_view engine = {},
                                       const EngineOptions& options = {});

  const Plan& plan() const { return *plan_; }
  Engine& engine() { return *engine_; }

  int64_t vocab_size() const override { return vocab_; }
  int64_t context() const override { return engine_->context(); }
  int64_t position() const override { return position_; }
  void reset() override { position_ = 0; }
  std::span<const float> prefill(std::span<const int32_t> ids) override;
  std::span<const float> decode(int32_t id) override;

  // The function decode() runs (decode, or what stands in for it).
  const Function& decode_function() const { return decode_ ? *decode_ : prefill_last_ ? *prefill_last_ : *prefill_; }

  void decode_greedy(int32_t first, std::span<int32_t> out) override;
  int64_t greedy_run() const override { return engine_->greedy_run(); }

  // Feeds `ids` and returns the logits of every one of them, [ids.size()][vocab_size].
  std::vector<float> prefill_all(std::span<const int32_t> ids);

 private:
  void check_fits(std::span<const int32_t> ids) const;
  std::shared_ptr<const Plan> plan_;
  std::unique_ptr<Engine> engine_;
  const Function* prefill_ = nullptr;       // all positions' logits
  const Function* prefill_last_ = nullptr;  // the last position's
  const Function* decode_ = nullptr;        // one token
  int64_t vocab_ = 0;
  int64_t position_ = 0;
  std::vector<float> logits_;  // the last call's output: one row, or a chunk's rows when only prefill exists
};

}  // namespace aprc
