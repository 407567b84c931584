// Picks the next token from a row of logits, with llama.cpp's semantics and order: repetition
// penalty, then top-k, top-p and min-p (on the untempered distribution), then temperature, then a
// draw. Temperature <= 0 is greedy (after the penalty). A given seed always gives the same tokens:
// the random numbers come from aprc's own generator (xoshiro256**), not from <random>'s
// distributions, whose output differs between standard libraries.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

namespace aprc {

struct SamplerConfig {
  float temperature = 0.8f;     // <= 0: greedy
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off; keeps tokens with p >= min_p * p(most likely)
  float repeat_penalty = 1.0f;  // 1: off; a recent token's logit l becomes l / penalty if l > 0, else l * penalty
  int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at; -1: all of them
  uint64_t seed = 0;

  static SamplerConfig greedy() {
    SamplerConfig c;
    c.temperature = 0;
    return c;
  }
};

struct TokenProbability {
  int32_t id;
  double p;
};

class Sampler {
 public:
  // Throws Error(BadInput) for a setting out of range (negative top-p, penalty <= 0, ...).
  explicit Sampler(const SamplerConfig& config);

  // Chooses a token; it is not remembered for the penalty until accept(). Throws Error(Internal)
  // for NaN or +inf logits (a broken model must not look like a valid choice).
  int32_t sample(std::span<const float> logits);
  // Remembers a token (of the prompt or generated) for the repetition penalty.
  void accept(int32_t id);
  // sample() then accept().
  int32_t next(std::span<const float> logits) {
    int32_t id = sample(logits);
    accept(id);
    return id;
  }

  // The distribution sample() draws from, most likely first (ties: lower id first), summing to 1.
  // Greedy gives the single most likely token with p = 1.
  std::vector<TokenProbability> distribution(std::span<const float> logits) const;

  const SamplerConfig& config() const { return config_; }

 private:
  double uniform();  // [0, 1) from the generator
  // The logits with the repetition penalty applied; throws on NaN and +inf.
  std::vector<float> penalized(std::span<const float> logits) const;
  // What sample() draws from, in an order that depends on nothing but the logits and the settings
  // (so that a seed draws the same token with any standard library): most likely first when
  // `sorted`, else possibly by id.
  std::vector<TokenProbability> candidates(std::span<const float> logits, bool sorted) const;

  SamplerConfig config_;
  uint64_t state_[4];
  std::deque<int32_t> recent_;
};

}  // namespace aprc
