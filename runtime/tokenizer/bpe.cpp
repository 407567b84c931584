#include "bpe.h"

#include <algorithm>

namespace aprc::tokenizer_detail {

void MergeTable::reserve(size_t n) {
  size_t want = 16;
  while (want < 2 * n) want *= 2;
  if (want <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(want, Slot{kEmpty, {}});
  shift_ = 64 - __builtin_ctzll(want);
  count_ = 0;
  for (const Slot& s : old)
    if (s.key != kEmpty) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu), s.merge);
}

void MergeTable::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

void MergeTable::insert(int32_t left, int32_t right, Merge merge) {
  if (2 * (count_ + 1) > slots_.size()) grow();
  uint64_t key = key_of(left, right);
  size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return;
    if (slots_[i].key == kEmpty) {
      slots_[i] = Slot{key, merge};
      ++count_;
      return;
    }
  }
}

const Merge* MergeTable::find(int32_t left, int32_t right) const {
  if (slots_.empty()) return nullptr;
  uint64_t key = key_of(left, right);
  size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

namespace {

struct Candidate {
  int32_t rank;
  int32_t pos;  // index of the left symbol
  int32_t merged;
  // std::push_heap builds a max-heap: "less" is the later candidate (higher rank, then further right).
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

void bpe_merge(const MergeTable& merges, std::vector<int32_t>& ids) {
  const int32_t n = static_cast<int32_t>(ids.size());
  if (n < 2) return;
  // Symbols live at their original positions; merged-away ones are unlinked (dead).
  std::vector<int32_t> prev(n), next(n);
  std::vector<char> dead(n, 0);
  std::vector<Candidate> heap;
  heap.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
    if (i + 1 < n)
      if (const Merge* m = merges.find(ids[i], ids[i + 1])) heap.push_back({m->rank, i, m->merged});
  }
  std::make_heap(heap.begin(), heap.end());
  auto push = [&](int32_t left) {
    if (left < 0 || next[left] < 0) return;
    int32_t right = next[left];
    if (const Merge* m = merges.find(ids[left], ids[right])) {
      heap.push_back({m->rank, left, m->merged});
      std::push_heap(heap.begin(), heap.end());
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    Candidate c = heap.back();
    heap.pop_back();
    int32_t right = next[c.pos];
    if (dead[c.pos] || right < 0) continue;
    // The pair may have changed since it was queued: only merge it if it is still the same pair.
    const Merge* m = merges.find(ids[c.pos], ids[right]);
    if (!m || m->merged != c.merged || m->rank != c.rank) continue;
    ids[c.pos] = c.merged;
    dead[right] = 1;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  int32_t out = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) ids[out++] = ids[i];
  ids.resize(out);
}

}  // namespace aprc::tokenizer_detail
