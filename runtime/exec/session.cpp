#include <algorithm>
#include <cmath>
#include <cstring>

#include "aprc/argmax.h"
#include "aprc/error.h"
#include "aprc/runtime.h"

namespace aprc {

Session::Session(std::shared_ptr<const Plan> plan, std::unique_ptr<Engine> engine)
    : plan_(std::move(plan)), engine_(std::move(engine)) {
  const PlanTarget* target = plan_->target(engine_->kind());
  if (!target) throw_internal("session: the plan has no " + std::string(engine_->kind()) + " target");
  prefill_ = target->function("prefill");
  prefill_last_ = target->function("prefill_last");
  decode_ = target->function("decode");
  // Any one of them can do all three, a row or a token at a time; missing ones are stood in for.
  if (!prefill_ && !prefill_last_ && !decode_)
    throw_bad_input(plan_->path() + ": the " + std::string(engine_->kind()) +
                    " target has none of the functions prefill, prefill_last, decode");
  vocab_ = plan_->manifest().config.vocab_size;
  logits_.resize(static_cast<size_t>(vocab_));  // one row; more only if a prefill of all rows needs it
}

void Session::check_fits(std::span<const int32_t> ids) const {
  if (ids.empty()) throw_bad_input(plan_->path() + ": no tokens to feed");
  for (int32_t id : ids)
    if (id < 0 || id >= vocab_)
      throw_bad_input(plan_->path() + ": token id " + std::to_string(id) + " is not in the vocabulary (0.." +
                      std::to_string(vocab_ - 1) + ")");
  const int64_t n = static_cast<int64_t>(ids.size());
  if (position_ + n > context())
    throw_bad_input(plan_->path() + ": the context is full: " + std::to_string(position_) + " tokens so far and " +
                    std::to_string(n) + " more do not fit in " + std::to_string(context()) +
                    " positions (--context sets it, up to the plan's " +
                    std::to_string(plan_->manifest().kv_cache.max_context) + ")");
}

std::span<const float> Session::prefill(std::span<const int32_t> ids) {
  check_fits(ids);
  // The function that gives the last row most cheaply, and how many rows its output has.
  const Function* fn = prefill_last_ ? prefill_last_ : prefill_ ? prefill_ : decode_;
  const bool all_rows = fn == prefill_;
  size_t done = 0;
  int64_t last_rows = 1;
  while (done < ids.size()) {
    const size_t n = std::min<size_t>(ids.size() - done, static_cast<size_t>(fn->max_tokens));
    if (all_rows && logits_.size() < n * vocab_) logits_.resize(n * vocab_);
    engine_->run(*fn, ids.subspan(done, n), position_, logits_.data());
    position_ += static_cast<int64_t>(n);
    done += n;
    last_rows = all_rows ? static_cast<int64_t>(n) : 1;
  }
  return std::span<const float>(logits_).subspan(static_cast<size_t>((last_rows - 1) * vocab_), static_cast<size_t>(vocab_));
}

std::span<const float> Session::decode(int32_t id) {
  if (!decode_) return prefill(std::span<const int32_t>(&id, 1));
  std::span<const int32_t> ids(&id, 1);
  check_fits(ids);
  engine_->run(*decode_, ids, position_, logits_.data());
  position_ += 1;
  return std::span<const float>(logits_).first(static_cast<size_t>(vocab_));
}

void LanguageModel::decode_greedy(int32_t first, std::span<int32_t> out) {
  int32_t next = first;
  for (int32_t& id : out) {
    const std::span<const float> logits = decode(next);
    const GreedyPick pick = greedy_pick(logits.data(), static_cast<int64_t>(logits.size()));
    if (pick.saw_nan)
      throw_internal("the logits of position " + std::to_string(position() - 1) +
                     " hold NaN; the greedy token picked from them is not meaningful");
    id = next = static_cast<int32_t>(pick.index);
  }
}

void Session::decode_greedy(int32_t first, std::span<int32_t> out) {
  if (out.empty()) return;
  check_fits(std::span<const int32_t>(&first, 1));
  const int64_t n = static_cast<int64_t>(out.size());
  if (decode_ && position_ + n <= context() && engine_->decode_greedy(*decode_, first, position_, out)) {
    position_ += n;
    return;
  }
  LanguageModel::decode_greedy(first, out);
}

std::vector<float> Session::prefill_all(std::span<const int32_t> ids) {
  check_fits(ids);
  std::vector<float> all(ids.size() * static_cast<size_t>(vocab_));
  if (!prefill_) {  // a row at a time through whatever the plan has
    for (size_t i = 0; i < ids.size(); ++i) {
      std::span<const float> row = prefill(ids.subspan(i, 1));
      std::copy(row.begin(), row.end(), all.begin() + static_cast<ptrdiff_t>(i * vocab_));
    }
    return all;
  }
  size_t done = 0;
  while (done < ids.size()) {
    const size_t n = std::min<size_t>(ids.size() - done, static_cast<size_t>(prefill_->max_tokens));
    engine_->run(*prefill_, ids.subspan(done, n), position_, all.data() + done * vocab_);
    position_ += static_cast<int64_t>(n);
    done += n;
  }
  return all;
}

}  // namespace aprc
