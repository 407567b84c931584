// A test-side APR v2 writer written from shared/docs/formats.md, independent of aprc's writer, that
// can also write what the format forbids (an unsorted index, overlapping or misaligned tensors,
// unknown dtypes) so the reader's refusals can be tested. Also: fixes both CRCs of edited bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "aprc/crc32.h"
#include "frontend_test_writers.h"

namespace aprc::testing {

struct AprEntryOut {
  std::string name;
  uint8_t dtype;
  std::vector<uint64_t> dims;
  std::vector<uint8_t> data;
  int64_t offset = -1;  // -1: the next 64-byte boundary; otherwise as given (to test overlaps)
};

inline void fix_apr_crcs(std::vector<uint8_t>& f) {
  const uint32_t h = crc32_update(crc32(f.data(), 40), f.data() + 44, 20);
  std::memcpy(f.data() + 40, &h, 4);
  const uint32_t footer = crc32(f.data(), f.size() - 4);
  std::memcpy(f.data() + f.size() - 4, &footer, 4);
}

// Entries are written in the order given (sort them for a valid file).
inline std::vector<uint8_t> apr_bytes(const std::string& metadata, const std::vector<AprEntryOut>& entries,
                                      uint16_t flags = 0x0400) {
  auto pad64 = [](std::vector<uint8_t>& v) { v.resize((v.size() + 63) / 64 * 64, 0); };
  std::vector<uint8_t> index;
  uint64_t next = 0;
  std::vector<uint64_t> offsets;
  for (const AprEntryOut& e : entries) {
    const uint64_t off = e.offset >= 0 ? static_cast<uint64_t>(e.offset) : next;
    offsets.push_back(off);
    next = std::max(next, (off + e.data.size() + 63) / 64 * 64);
    append<uint16_t>(index, static_cast<uint16_t>(e.name.size()));
    append_bytes(index, e.name.data(), e.name.size());
    append<uint8_t>(index, e.dtype);
    append<uint8_t>(index, static_cast<uint8_t>(e.dims.size()));
    for (uint64_t d : e.dims) append<uint64_t>(index, d);
    append<uint64_t>(index, off);
    append<uint64_t>(index, e.data.size());
  }
  std::vector<uint8_t> f(64, 0);
  std::memcpy(f.data(), "APR\0", 4);
  f[4] = 2;
  std::memcpy(f.data() + 6, &flags, 2);
  const uint32_t count = static_cast<uint32_t>(entries.size());
  std::memcpy(f.data() + 8, &count, 4);
  const uint64_t meta_offset = 64;
  const uint32_t meta_size = static_cast<uint32_t>(metadata.size());
  std::memcpy(f.data() + 12, &meta_offset, 8);
  std::memcpy(f.data() + 20, &meta_size, 4);
  append_bytes(f, metadata.data(), metadata.size());
  pad64(f);
  const uint64_t index_offset = f.size();
  append_bytes(f, index.data(), index.size());
  pad64(f);
  const uint64_t data_offset = f.size();
  std::memcpy(f.data() + 24, &index_offset, 8);
  std::memcpy(f.data() + 32, &data_offset, 8);
  f.resize(data_offset + next, 0);
  for (size_t k = 0; k < entries.size(); ++k)
    std::memcpy(f.data() + data_offset + offsets[k], entries[k].data.data(), entries[k].data.size());
  f.resize(f.size() + 4, 0);
  fix_apr_crcs(f);
  return f;
}

// The APR dtype code of the dtypes the tiny models use.
inline uint8_t apr_code_of(DType d) {
  switch (d) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_K: return 12;
    case DType::Q6_K: return 14;
    case DType::BF16: return 30;
    default: return 255;
  }
}

// A model's tensors as sorted APR entries with a minimal metadata (config keys only).
inline std::vector<AprEntryOut> apr_entries(const Model& m) {
  std::vector<AprEntryOut> out;
  for (const auto& [name, t] : m.tensors) {
    AprEntryOut e{name, apr_code_of(t.dtype), {}, {t.bytes.begin(), t.bytes.end()}};
    for (int64_t d : t.shape) e.dims.push_back(static_cast<uint64_t>(d));
    out.push_back(std::move(e));
  }
  return out;
}

inline std::string apr_config_json(const ModelConfig& c) {
  return "{\"architecture\":\"qwen2\",\"hidden_size\":" + std::to_string(c.hidden_size) +
         ",\"num_hidden_layers\":" + std::to_string(c.num_layers) + ",\"num_attention_heads\":" +
         std::to_string(c.num_heads) + ",\"num_key_value_heads\":" + std::to_string(c.num_kv_heads) +
         ",\"intermediate_size\":" + std::to_string(c.intermediate_size) + ",\"vocab_size\":" +
         std::to_string(c.vocab_size) + ",\"rope_theta\":1000000.0,\"rope_type\":2,\"rms_norm_eps\":1e-6}";
}

}  // namespace aprc::testing
