#include "aprc/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "aprc/argmax.h"
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

// Most likely first; equal logits in id order: a strict total order, so that every set and every
// order below is fully determined by the logits.
bool before(const Candidate& a, const Candidate& b) { return a.logit != b.logit ? a.logit > b.logit : a.id < b.id; }

// The shortest run of most likely candidates (in `before` order) whose probability reaches p,
// without sorting the whole vocabulary: the candidates' mass is bucketed by logit, only the buckets
// down to where the mass reaches p are sorted, and the cumulative sum is taken in that order.
std::vector<Candidate> top_p_prefix(const std::vector<Candidate>& all, float lmax, double p) {
  constexpr int kBuckets = 1024;
  float lmin = lmax;
  for (const Candidate& c : all)
    if (std::isfinite(c.logit)) lmin = std::min(lmin, c.logit);
  const double range = double(lmax) - lmin, scale = range > 0 ? kBuckets / range : 0;
  auto bucket_of = [&](float l) {  // 0 holds the largest logits
    if (!std::isfinite(l)) return kBuckets - 1;
    return std::min(kBuckets - 1, static_cast<int>((double(lmax) - l) * scale));
  };
  std::vector<double> mass(kBuckets, 0.0), weight(all.size());
  std::vector<int16_t> bucket(all.size());
  double total = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    weight[i] = std::exp(double(all[i].logit) - lmax);
    bucket[i] = static_cast<int16_t>(bucket_of(all[i].logit));
    mass[bucket[i]] += weight[i];
    total += weight[i];
  }
  // The bucket where the mass reaches p, and the next non-empty one in case rounding differs.
  int last = 0;
  for (double cum = mass[0]; last < kBuckets - 1 && cum < p * total;) cum += mass[++last];
  for (int next = last + 1; next < kBuckets; ++next)
    if (mass[next] > 0) {
      last = next;
      break;
    }
  std::vector<uint32_t> head;
  for (size_t i = 0; i < all.size(); ++i)
    if (bucket[i] <= last) head.push_back(static_cast<uint32_t>(i));
  std::sort(head.begin(), head.end(), [&](uint32_t a, uint32_t b) { return before(all[a], all[b]); });
  double cum = 0;
  for (size_t k = 0; k < head.size(); ++k) {
    cum += weight[head[k]] / total;
    if (cum >= p) {
      std::vector<Candidate> out(k + 1);
      for (size_t j = 0; j <= k; ++j) out[j] = all[head[j]];
      return out;
    }
  }
  std::vector<Candidate> everything = all;  // p within rounding of 1: the full sorted vocabulary
  std::sort(everything.begin(), everything.end(), before);
  return everything;
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

std::vector<float> Sampler::penalized(std::span<const float> logits) const {
  if (logits.empty()) throw_internal("sampler: no logits");
  std::vector<float> l(logits.begin(), logits.end());
  for (size_t i = 0; i < l.size(); ++i)
    if (std::isnan(l[i]) || l[i] == INFINITY)
      throw_internal("sampler: logit of token " + std::to_string(i) + " is " + std::to_string(l[i]));
  // Repetition penalty, once per distinct recent token (llama.cpp).
  if (config_.repeat_penalty != 1.0f && !recent_.empty()) {
    std::unordered_set<int32_t> seen;
    for (int32_t id : recent_) {
      if (id < 0 || static_cast<size_t>(id) >= l.size() || !seen.insert(id).second) continue;
      l[id] = l[id] <= 0 ? l[id] * config_.repeat_penalty : l[id] / config_.repeat_penalty;
    }
  }
  return l;
}

std::vector<TokenProbability> Sampler::candidates(std::span<const float> logits, bool sorted) const {
  std::vector<float> l = penalized(logits);
  const int32_t best = first_argmax(l);
  if (config_.temperature <= 0) return {{best, 1.0}};

  std::vector<Candidate> c(l.size());
  for (size_t i = 0; i < l.size(); ++i) c[i] = {l[i], static_cast<int32_t>(i)};
  bool in_order = false;  // c sorted by `before` (else by id)

  // Top-k, then top-p on the untempered distribution of what is left (llama.cpp's order).
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + config_.top_k, c.end(), before);
    c.resize(config_.top_k);
    in_order = true;
  }
  if (config_.top_p < 1.0f) {
    c = top_p_prefix(c, l[best], config_.top_p);
    in_order = true;
  }
  // Min-p, relative to the most likely token.
  if (config_.min_p > 0) {
    const float threshold = l[best] + std::log(config_.min_p);
    c.erase(std::remove_if(c.begin(), c.end(), [&](const Candidate& x) { return x.logit < threshold; }), c.end());
  }
  if (sorted && !in_order) std::sort(c.begin(), c.end(), before);

  std::vector<TokenProbability> out(c.size());
  const double t = config_.temperature;
  double total = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    out[i] = {c[i].id, std::exp((double(c[i].logit) - l[best]) / t)};
    total += out[i].p;
  }
  for (TokenProbability& x : out) x.p /= total;
  return out;
}

std::vector<TokenProbability> Sampler::distribution(std::span<const float> logits) const {
  return candidates(logits, /*sorted=*/true);
}

int32_t Sampler::sample(std::span<const float> logits) {
  std::vector<TokenProbability> d = candidates(logits, /*sorted=*/false);
  if (d.size() == 1) return d.front().id;
  double u = uniform(), cum = 0;
  for (const TokenProbability& x : d) {
    cum += x.p;
    if (u < cum) return x.id;
  }
  return d.back().id;  // u within rounding of 1
}

}  // namespace aprc
