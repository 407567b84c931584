#include "aprc/gguf.h"

#include <algorithm>
#include <cmath>

#include "aprc/error.h"
#include "byte_reader.h"
#include "page_release.h"

namespace aprc {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxArrayDepth = 4;            // arrays of arrays are legal; deeper nesting is not real
constexpr uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
constexpr uint64_t kMaxNameLength = 65535;   // keys and tensor names are short; this bounds messages

// Bytes of one scalar element, 0 for String/Array (variable size).
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: case GgufType::Array: return 0;
  }
  return 0;
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

struct Parser {
  ByteReader& r;

  // A key or tensor name: a string of at most kMaxNameLength bytes.
  std::string read_name(const std::string& what) {
    const uint64_t n = r.read<uint64_t>(what + " (length)");
    if (n > kMaxNameLength) r.fail(what + ": length " + std::to_string(n) + " (names are at most 65535 bytes)");
    return std::string(r.read_string(n, what));
  }
  const MappedFile* mapped = nullptr;  // set: release walked pages of long arrays

  void release_walked(uint64_t from) {
    if (mapped) release_pages(*mapped, r.bytes().data() + from, r.bytes().data() + r.pos());
  }

  std::string_view read_string(const std::string& what) {
    const uint64_t n = r.read<uint64_t>(what + " (string length)");
    return r.read_string(n, what);
  }

  // Reads one scalar of type t into v.
  void read_scalar(GgufType t, GgufValue& v, const std::string& what) {
    switch (t) {
      case GgufType::U8: v.u = r.read<uint8_t>(what); v.i = static_cast<int64_t>(v.u); return;
      case GgufType::I8: v.i = r.read<int8_t>(what); return;
      case GgufType::U16: v.u = r.read<uint16_t>(what); v.i = static_cast<int64_t>(v.u); return;
      case GgufType::I16: v.i = r.read<int16_t>(what); return;
      case GgufType::U32: v.u = r.read<uint32_t>(what); v.i = static_cast<int64_t>(v.u); return;
      case GgufType::I32: v.i = r.read<int32_t>(what); return;
      case GgufType::U64: v.u = r.read<uint64_t>(what); v.i = static_cast<int64_t>(v.u); return;
      case GgufType::I64: v.i = r.read<int64_t>(what); return;
      case GgufType::F32: v.f = r.read<float>(what); return;
      case GgufType::F64: v.f = r.read<double>(what); return;
      case GgufType::Bool: {
        const uint8_t b = r.read<uint8_t>(what);
        if (b > 1) r.fail(what + ": a bool must be 0 or 1, got " + std::to_string(b));
        v.u = b;
        return;
      }
      case GgufType::String: case GgufType::Array: break;
    }
    throw_internal("gguf read_scalar: not a scalar type");
  }

  // Skips over `count` elements of type t, checking every length on the way.
  void skip_elements(GgufType t, uint64_t count, int depth, const std::string& what) {
    if (const uint64_t size = scalar_size(t)) {
      uint64_t total;
      if (mul_overflows(size, count, &total) || total > r.remaining())
        r.fail("truncated: " + what + " declares " + std::to_string(count) + " elements of " +
               gguf_type_name(t) + ", more than the " + std::to_string(r.remaining()) + " bytes left");
      if (t == GgufType::Bool) {
        for (uint64_t k = 0; k < count; ++k)
          if (r.bytes()[r.pos() + k] > 1) r.fail(what + ": element " + std::to_string(k) + " is not a bool");
      }
      r.seek(r.pos() + total, what);
      return;
    }
    // Every string takes at least 8 bytes and every array 12: a count beyond that is a lie.
    const uint64_t min_size = t == GgufType::String ? 8 : 12;
    if (count > r.remaining() / min_size)
      r.fail("truncated: " + what + " declares " + std::to_string(count) + " elements of " + gguf_type_name(t) +
             ", more than the " + std::to_string(r.remaining()) + " bytes left can hold");
    uint64_t released_to = r.pos();
    for (uint64_t k = 0; k < count; ++k) {
      if (r.pos() - released_to >= (1u << 20)) {
        release_walked(released_to);
        released_to = r.pos();
      }
      if (t == GgufType::String) {
        // A vocabulary has 150k strings: check by hand and name the element only on failure.
        if (r.remaining() < 8) r.need(8, what + " element " + std::to_string(k) + " (string length)");
        const uint64_t n = r.read<uint64_t>("string length");
        if (n > r.remaining()) r.need(n, what + " element " + std::to_string(k));
        r.seek(r.pos() + n, "string");
      } else {
        read_array_header(depth + 1, what + " element " + std::to_string(k));
      }
    }
    release_walked(released_to);
  }

  // Reads an array's element type and count, then skips its elements; returns the value.
  GgufValue read_array_header(int depth, const std::string& what) {
    if (depth > kMaxArrayDepth) r.fail(what + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
    GgufValue v;
    v.type = GgufType::Array;
    const uint32_t et = r.read<uint32_t>(what + " (array element type)");
    if (!valid_type(et)) r.fail(what + ": unknown array element type " + std::to_string(et));
    v.elem_type = static_cast<GgufType>(et);
    v.count = r.read<uint64_t>(what + " (array length)");
    const uint64_t begin = r.pos();
    skip_elements(v.elem_type, v.count, depth, what);
    v.elems = r.bytes().subspan(begin, r.pos() - begin);
    return v;
  }

  GgufValue read_value(uint32_t raw_type, const std::string& what) {
    if (!valid_type(raw_type)) r.fail(what + ": unknown value type " + std::to_string(raw_type));
    const auto t = static_cast<GgufType>(raw_type);
    if (t == GgufType::Array) return read_array_header(0, what);
    GgufValue v;
    v.type = t;
    if (t == GgufType::String) {
      v.str = read_string(what);
    } else {
      read_scalar(t, v, what);
    }
    return v;
  }
};

std::string key_what(const std::string& key) { return "key '" + key + "'"; }

}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "unknown";
}

const char* ggml_type_name(uint32_t t) {
  static const char* const kNames[] = {
      "f32",     "f16",    "q4_0",   "q4_1",   "q4_2 (removed)", "q4_3 (removed)", "q5_0",   "q5_1",
      "q8_0",    "q8_1",   "q2_k",   "q3_k",   "q4_k",           "q5_k",           "q6_k",   "q8_k",
      "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl",         "iq3_s",          "iq2_s",  "iq4_xs",
      "i8",      "i16",    "i32",    "i64",    "f64",            "iq1_m",          "bf16",   "q4_0_4_4",
      "q4_0_4_8", "q4_0_8_8", "tq1_0", "tq2_0", "iq4_nl_4_4",     "iq4_nl_4_8",     "iq4_nl_8_8", "mxfp4",
  };
  return t < sizeof(kNames) / sizeof(kNames[0]) ? kNames[t] : "unknown";
}

std::optional<DType> dtype_from_ggml(uint32_t t) {
  switch (t) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 6: return DType::Q5_0;
    case 8: return DType::Q8_0;
    case 12: return DType::Q4_K;
    case 13: return DType::Q5_K;
    case 14: return DType::Q6_K;
    case 24: return DType::I8;
    case 26: return DType::I32;
    case 27: return DType::I64;
    case 28: return DType::F64;
    case 30: return DType::BF16;
    default: return std::nullopt;
  }
}

uint32_t ggml_type_from_dtype(DType dtype) {
  for (uint32_t t = 0; t < 40; ++t)
    if (auto d = dtype_from_ggml(t); d && *d == dtype) return t;
  throw_internal(std::string("no ggml type holds ") + dtype_name(dtype));
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

GgufFile parse_gguf(std::span<const uint8_t> bytes, const std::string& path, const MappedFile* mapped) {
  ByteReader r(bytes, path);
  Parser p{r, mapped && mapped->data() == bytes.data() ? mapped : nullptr};
  GgufFile g;
  g.path = path;

  if (r.size() < 4) r.fail("truncated: not a GGUF file (" + std::to_string(r.size()) + " bytes)");
  const uint32_t magic = r.read<uint32_t>("the magic");
  if (magic != kGgufMagic) r.fail("not a GGUF file (bad magic)");
  g.version = r.read<uint32_t>("the GGUF version");
  if (g.version == 1) r.fail("GGUF version 1 is not supported (aprc reads versions 2 and 3)");
  if (g.version > 0xFFFF && (g.version >> 24) <= 3) r.fail("big-endian GGUF files are not supported");
  if (g.version != 2 && g.version != 3)
    r.fail("unsupported GGUF version " + std::to_string(g.version) + " (aprc reads versions 2 and 3)");
  const uint64_t n_tensors = r.read<uint64_t>("the tensor count");
  const uint64_t n_kv = r.read<uint64_t>("the key-value count");
  // A key-value takes at least 8 + 4 + 1 bytes and a tensor info 8 + 4 + 8 + 4 + 8: counts that the
  // rest of the file cannot hold are rejected before anything is reserved.
  if (n_kv > r.remaining() / 13)
    r.fail("the key-value count " + std::to_string(n_kv) + " is more than the file can hold");
  if (n_tensors > r.remaining() / 32)
    r.fail("the tensor count " + std::to_string(n_tensors) + " is more than the file can hold");

  g.kvs.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = p.read_name("key-value " + std::to_string(k) + " name");
    const uint32_t type = r.read<uint32_t>(key_what(key) + " (value type)");
    GgufValue v = p.read_value(type, key_what(key));
    if (!g.kv_index.emplace(key, g.kvs.size()).second) r.fail(key_what(key) + ": appears twice");
    g.kvs.emplace_back(key, v);
  }

  if (const GgufValue* a = g.find("general.alignment")) {
    if (a->type != GgufType::U32 && a->type != GgufType::U64 && a->type != GgufType::I32)
      g.fail_key("general.alignment", std::string("expected an integer, got ") + gguf_type_name(a->type));
    const uint64_t al = a->type == GgufType::I32 ? static_cast<uint64_t>(a->i) : a->u;
    if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 20))
      g.fail_key("general.alignment", "must be a power of two up to 1 MiB, got " + std::to_string(a->i));
    g.alignment = al;
  }

  g.tensors.reserve(n_tensors);
  std::map<std::string, size_t, std::less<>> seen;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = p.read_name("tensor info " + std::to_string(k) + " name");
    const std::string what = "tensor '" + t.name + "'";
    if (!seen.emplace(t.name, k).second) r.fail(what + ": appears twice");
    const uint32_t n_dims = r.read<uint32_t>(what + " (dimension count)");
    if (n_dims == 0 || n_dims > kMaxDims)
      r.fail(what + ": " + std::to_string(n_dims) + " dimensions (GGUF allows 1 to 4)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = r.read<uint64_t>(what + " (dimension " + std::to_string(d) + ")");
      if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX) || mul_overflows(elements, ne, &elements) ||
          elements > static_cast<uint64_t>(INT64_MAX))
        r.fail(what + ": bad dimension " + std::to_string(d) + " = " + std::to_string(ne));
      t.ne.push_back(ne);
    }
    t.ggml_type = r.read<uint32_t>(what + " (type)");
    t.offset = r.read<uint64_t>(what + " (data offset)");
    auto dtype = dtype_from_ggml(t.ggml_type);
    if (!dtype)
      r.fail(what + ": ggml type " + std::to_string(t.ggml_type) + " (" + ggml_type_name(t.ggml_type) +
             ") is not supported (aprc reads f32, f16, bf16, f64, i8, i32, i64, q8_0, q5_0, q4_k, q5_k, q6_k)");
    t.dtype = *dtype;
    const auto shape = t.shape();
    auto size = tensor_bytes(t.dtype, shape);
    if (!size)
      r.fail(what + ": row length " + std::to_string(t.ne[0]) + " is not a whole number of " +
             dtype_name(t.dtype) + " blocks of " + std::to_string(format_info(t.dtype).block_weights));
    t.bytes = *size;
    if (t.offset % g.alignment != 0)
      r.fail(what + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(g.alignment));
    g.tensors.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  g.data_offset = align_up(r.pos(), g.alignment);
  const uint64_t file_size = r.size();
  if (g.data_offset > file_size && !g.tensors.empty())
    r.fail("truncated: the tensor data section would start at " + std::to_string(g.data_offset) +
           ", past the end of the file (" + std::to_string(file_size) + " bytes)");

  std::vector<const GgufTensorInfo*> by_offset;
  for (GgufTensorInfo& t : g.tensors) {
    uint64_t begin, end;
    if (add_overflows(g.data_offset, t.offset, &begin) || add_overflows(begin, t.bytes, &end) || end > file_size)
      r.fail("tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", " +
             std::to_string(t.offset + t.bytes) + ") of the data section runs past the end of the file (" +
             std::to_string(file_size) + " bytes)");
    t.data = bytes.subspan(begin, t.bytes);
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensorInfo* prev = by_offset[k - 1];
    const GgufTensorInfo* cur = by_offset[k];
    if (cur->offset < prev->offset + prev->bytes)
      r.fail("tensor '" + cur->name + "': data at offset " + std::to_string(cur->offset) + " overlaps tensor '" +
             prev->name + "' [" + std::to_string(prev->offset) + ", " + std::to_string(prev->offset + prev->bytes) +
             ")");
  }
  return g;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index.find(key);
  return it == kv_index.end() ? nullptr : &kvs[it->second].second;
}

void GgufFile::fail_key(std::string_view key, const std::string& message) const {
  throw_bad_input(path + ": key '" + std::string(key) + "': " + message);
}

namespace {
const GgufValue& need(const GgufFile& g, std::string_view key) {
  const GgufValue* v = g.find(key);
  if (!v) g.fail_key(key, "missing");
  return *v;
}
bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}
bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}
}  // namespace

uint64_t GgufFile::get_uint(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (!is_integer(v.type)) fail_key(key, std::string("expected an integer, got ") + gguf_type_name(v.type));
  if (is_unsigned(v.type)) return v.u;
  if (v.i < 0) fail_key(key, "expected a non-negative integer, got " + std::to_string(v.i));
  return static_cast<uint64_t>(v.i);
}

double GgufFile::get_float(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  double d;
  if (v.type == GgufType::F32 || v.type == GgufType::F64) {
    d = v.f;
  } else if (is_integer(v.type)) {
    d = is_unsigned(v.type) ? static_cast<double>(v.u) : static_cast<double>(v.i);
  } else {
    fail_key(key, std::string("expected a number, got ") + gguf_type_name(v.type));
  }
  if (!std::isfinite(d)) fail_key(key, "is not a finite number");
  return d;
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::Bool) fail_key(key, std::string("expected a bool, got ") + gguf_type_name(v.type));
  return v.u != 0;
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::String) fail_key(key, std::string("expected a string, got ") + gguf_type_name(v.type));
  return std::string(v.str);
}

std::vector<std::string> GgufFile::get_strings(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::Array || v.elem_type != GgufType::String)
    fail_key(key, std::string("expected an array of strings, got ") + gguf_type_name(v.type) +
                      (v.type == GgufType::Array ? std::string(" of ") + gguf_type_name(v.elem_type) : ""));
  // The lengths were checked on parse; walk them again.
  ByteReader r(v.elems, path);
  std::vector<std::string> out;
  out.reserve(v.count);
  for (uint64_t k = 0; k < v.count; ++k) {
    const uint64_t n = r.read<uint64_t>("string length");
    out.emplace_back(r.read_string(n, "string"));
  }
  return out;
}

std::vector<int64_t> GgufFile::get_ints(std::string_view key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::Array || !is_integer(v.elem_type))
    fail_key(key, std::string("expected an array of integers, got ") + gguf_type_name(v.type) +
                      (v.type == GgufType::Array ? std::string(" of ") + gguf_type_name(v.elem_type) : ""));
  ByteReader r(v.elems, path);
  Parser p{r};
  std::vector<int64_t> out;
  out.reserve(v.count);
  for (uint64_t k = 0; k < v.count; ++k) {
    GgufValue e;
    p.read_scalar(v.elem_type, e, "array element");
    out.push_back(e.i);
  }
  return out;
}

}  // namespace aprc
