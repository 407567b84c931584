// GGUF (llama.cpp's model file, versions 2 and 3) parsed as it is: typed key-values and tensor
// infos. Values point into the file's bytes; arrays are kept as byte ranges and decoded on demand,
// so a 150k-entry vocabulary costs nothing until someone asks for it. Everything is checked against
// the file on parse: counts, string lengths, dims, types, offsets, alignment, overlaps.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/mapped_file.h"

namespace aprc {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_type_name(GgufType type);

struct GgufValue {
  GgufType type = GgufType::U8;
  // Scalars: integers in `i` (signed) or `u` (unsigned, also bool), floats in `f`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string_view str;  // String
  // Array: element type, count and the bytes of the elements (validated; strings are walked).
  GgufType elem_type = GgufType::U8;
  uint64_t count = 0;
  std::span<const uint8_t> elems;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first, as GGUF stores it
  uint32_t ggml_type = 0;
  DType dtype = DType::F32;  // the aprc dtype of ggml_type
  uint64_t offset = 0;       // relative to the data section
  uint64_t bytes = 0;
  std::span<const uint8_t> data;  // the tensor's bytes in the file
  std::vector<int64_t> shape() const;  // outermost first
};

struct GgufFile {
  std::string path;
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs;  // in file order
  std::map<std::string, size_t, std::less<>> kv_index;
  std::vector<GgufTensorInfo> tensors;  // in file order

  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: a missing key or one of an unsuitable type is a BadInput naming the key.
  uint64_t get_uint(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  // Arrays.
  std::vector<std::string> get_strings(std::string_view key) const;
  std::vector<int64_t> get_ints(std::string_view key) const;

  [[noreturn]] void fail_key(std::string_view key, const std::string& message) const;
};

// Parses a whole GGUF file held in `bytes`; `path` names it in errors. When `bytes` is `mapped`'s
// mapping, the pages of large arrays are released once walked (they are re-read on demand), so
// parsing costs little resident memory.
GgufFile parse_gguf(std::span<const uint8_t> bytes, const std::string& path, const MappedFile* mapped = nullptr);

// ggml's tensor type numbers and names (all of them, so that an unsupported one is named).
const char* ggml_type_name(uint32_t ggml_type);
// The aprc dtype for a ggml type, or nullopt when aprc cannot read it.
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);
uint32_t ggml_type_from_dtype(DType dtype);

}  // namespace aprc
