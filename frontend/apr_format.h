// APR v2 layout constants shared by the reader and the writer (shared/docs/formats.md).
#pragma once

#include <cstdint>

namespace aprc::apr {

constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kAlign = 64;
constexpr uint64_t kMaxNameLength = 256;
constexpr uint8_t kMaxDims = 8;
constexpr uint8_t kVersionMajor = 2;

// Header field offsets.
constexpr uint64_t kFlagsAt = 6, kTensorCountAt = 8, kMetadataOffsetAt = 12, kMetadataSizeAt = 20,
                   kIndexOffsetAt = 24, kDataOffsetAt = 32, kHeaderCrcAt = 40;

enum Flag : uint16_t {
  kLz4 = 0x0001,
  kZstd = 0x0002,
  kEncrypted = 0x0004,
  kSigned = 0x0008,
  kSharded = 0x0010,
  kQuantized = 0x0020,
  kHasVocab = 0x0200,
  kRowMajor = 0x0400,
  kColumnMajor = 0x0800,
};

}  // namespace aprc::apr
