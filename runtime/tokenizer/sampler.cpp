#include "aprc/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "aprc/error.h"

namespace aprc {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

struct Candidate {
  float logit;
  int32_t id;
};

// Most likely first; equal logits in id order, so that every step is deterministic.
bool before(const Candidate& a, const Candidate& b) { return a.logit != b.logit ? a.logit > b.logit : a.id < b.id; }

// Sorts candidates[0, k) into order, leaving the rest (all less likely) unordered behind them.
void sort_prefix(std::vector<Candidate>& c, size_t k) {
  k = std::min(k, c.size());
  std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), c.end(), before);
}

void check(bool ok, const std::string& what) {
  if (!ok) throw_bad_input("sampler: " + what);
}

}  // namespace

Sampler::Sampler(const SamplerConfig& config) : config_(config) {
  check(!std::isnan(config.temperature), "temperature is NaN");
  check(config.top_p >= 0, "top-p must be in [0, 1], got " + std::to_string(config.top_p));
  check(config.min_p >= 0 && config.min_p <= 1, "min-p must be in [0, 1], got " + std::to_string(config.min_p));
  check(config.repeat_penalty > 0, "repeat penalty must be > 0, got " + std::to_string(config.repeat_penalty));
  check(config.repeat_last_n >= -1, "repeat-last-n must be >= -1, got " + std::to_string(config.repeat_last_n));
  uint64_t x = config.seed;
  for (uint64_t& s : state_) s = splitmix64(x);
}

double Sampler::uniform() {  // xoshiro256**
  uint64_t result = rotl(state_[1] * 5, 7) * 9;
  uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

void Sampler::accept(int32_t id) {
  if (config_.repeat_last_n == 0) return;
  recent_.push_back(id);
  if (config_.repeat_last_n > 0 && recent_.size() > static_cast<size_t>(config_.repeat_last_n)) recent_.pop_front();
}

std::vector<TokenProbability> Sampler::distribution(std::span<const float> logits) const {
  if (logits.empty()) throw_internal("sampler: no logits");
  std::vector<Candidate> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    float l = logits[i];
    if (std::isnan(l) || l == INFINITY)
      throw_internal("sampler: logit of token " + std::to_string(i) + " is " + std::to_string(l));
    c[i] = {l, static_cast<int32_t>(i)};
  }

  // Repetition penalty, once per distinct recent token (llama.cpp).
  if (config_.repeat_penalty != 1.0f && !recent_.empty()) {
    std::unordered_set<int32_t> seen;
    for (int32_t id : recent_) {
      if (id < 0 || static_cast<size_t>(id) >= c.size() || !seen.insert(id).second) continue;
      float& l = c[id].logit;
      l = l <= 0 ? l * config_.repeat_penalty : l / config_.repeat_penalty;
    }
  }

  if (config_.temperature <= 0) {
    auto best = std::min_element(c.begin(), c.end(), before);
    return {{best->id, 1.0}};
  }

  // Top-k. Without it only the most likely token needs to be in place (at the front).
  size_t sorted = 1;  // c[0, sorted) is in order and before everything after it
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < c.size()) {
    sorted = static_cast<size_t>(config_.top_k);
    sort_prefix(c, sorted);
    c.resize(sorted);
  } else {
    sort_prefix(c, sorted);
  }

  // Top-p on the untempered distribution: the shortest most-likely prefix whose probability
  // reaches p. Sorting grows geometrically, since the prefix is usually short.
  if (config_.top_p < 1.0f) {
    const double lmax = c.front().logit;
    double total = 0;
    for (const Candidate& x : c) total += std::exp(double(x.logit) - lmax);
    size_t want = std::min<size_t>(c.size(), 64);
    double cum = 0;
    size_t i = 0, cut = c.size();
    while (cut == c.size()) {
      if (want > sorted) {
        std::partial_sort(c.begin() + static_cast<std::ptrdiff_t>(sorted), c.begin() + static_cast<std::ptrdiff_t>(want),
                          c.end(), before);
        sorted = want;
      }
      for (; i < sorted; ++i) {
        cum += std::exp(double(c[i].logit) - lmax) / total;
        if (cum >= config_.top_p) {
          cut = i + 1;
          break;
        }
      }
      if (sorted == c.size()) break;
      want = std::min(c.size(), want * 4);
    }
    c.resize(std::min(cut, c.size()));
    sorted = std::min(sorted, c.size());
  }

  // Min-p, relative to the most likely token.
  if (config_.min_p > 0) {
    const float threshold = c.front().logit + std::log(config_.min_p);
    c.erase(std::remove_if(c.begin() + 1, c.end(), [&](const Candidate& x) { return x.logit < threshold; }), c.end());
  }

  sort_prefix(c, c.size());
  std::vector<TokenProbability> out(c.size());
  const double lmax = c.front().logit, t = config_.temperature;
  double total = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    out[i] = {c[i].id, std::exp((double(c[i].logit) - lmax) / t)};
    total += out[i].p;
  }
  for (TokenProbability& x : out) x.p /= total;
  return out;
}

int32_t Sampler::sample(std::span<const float> logits) {
  std::vector<TokenProbability> d = distribution(logits);
  if (d.size() == 1) return d.front().id;
  double u = uniform(), cum = 0;
  for (const TokenProbability& x : d) {
    cum += x.p;
    if (u < cum) return x.id;
  }
  return d.back().id;  // u within rounding of 1
}

}  // namespace aprc
