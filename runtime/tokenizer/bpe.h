// Byte-pair merging of one pre-tokenized piece: the piece starts as one token per byte and the
// adjacent pair whose merge has the lowest rank is merged until no pair has a merge (leftmost pair
// first among equal ranks), as Hugging Face's BPE model does it. A heap of candidate pairs makes it
// O(n log n) in the piece length, so a long run of one character costs no more than ordinary text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aprc::tokenizer_detail {

struct Merge {
  int32_t rank;
  int32_t merged;  // the id of the token the pair becomes
};

// (left id, right id) -> merge, in an open-addressing table: looked up for every adjacent pair of
// every piece, so it is kept flat and small.
class MergeTable {
 public:
  void reserve(size_t n);
  // Keeps the first (lowest-rank) merge of a pair that appears twice.
  void insert(int32_t left, int32_t right, Merge merge);
  const Merge* find(int32_t left, int32_t right) const;
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t key_of(int32_t l, int32_t r) {
    return (uint64_t{static_cast<uint32_t>(l)} << 32) | static_cast<uint32_t>(r);
  }
  size_t slot_of(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  void grow();

  std::vector<Slot> slots_;
  size_t count_ = 0;
  int shift_ = 64;
};

// Merges `ids` (the piece's byte tokens) in place into the piece's BPE tokens.
void bpe_merge(const MergeTable& merges, std::vector<int32_t>& ids);

}  // namespace aprc::tokenizer_detail
