// The safetensors container: u64 header length, a JSON header (name -> dtype, shape, data_offsets,
// and an optional __metadata__), then the data. Every entry is checked against the data section.
#include <algorithm>

#include "aprc/config_json.h"
#include "aprc/error.h"
#include "byte_reader.h"
#include "readers.h"

namespace aprc {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100u << 20;  // the safetensors specification's limit

struct StDtype {
  const char* name;
  std::optional<DType> dtype;  // nullopt: a safetensors dtype aprc does not read
  uint64_t size;
};

constexpr StDtype kDtypes[] = {
    {"F32", DType::F32, 4},   {"F16", DType::F16, 2},   {"BF16", DType::BF16, 2}, {"F64", DType::F64, 8},
    {"I32", DType::I32, 4},   {"I64", DType::I64, 8},   {"I8", DType::I8, 1},     {"U8", DType::U8, 1},
    {"I16", std::nullopt, 2}, {"U16", std::nullopt, 2}, {"U32", std::nullopt, 4}, {"U64", std::nullopt, 8},
    {"BOOL", std::nullopt, 1}, {"F8_E4M3", std::nullopt, 1}, {"F8_E5M2", std::nullopt, 1},
};

}  // namespace

std::vector<SafetensorsTensor> parse_safetensors(std::span<const uint8_t> bytes, const std::string& path) {
  ByteReader r(bytes, path);
  const uint64_t n = r.read<uint64_t>("the safetensors header length");
  if (n > kMaxHeader) r.fail("safetensors header length " + std::to_string(n) + " exceeds 100 MB");
  const std::string_view text = r.read_string(n, "the safetensors header");
  const json header = parse_json_text(text, path);
  if (!header.is_object()) r.fail("the safetensors header is not a JSON object");
  const uint64_t data_begin = r.pos();
  const uint64_t data_size = r.size() - data_begin;

  std::vector<SafetensorsTensor> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // for the overlap check
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string t = "tensor '" + it.key() + "'";
    const json& e = it.value();
    if (!e.is_object()) r.fail(t + ": expected an object");
    auto dt = e.find("dtype");
    auto shape = e.find("shape");
    auto offsets = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) r.fail(t + ": missing 'dtype'");
    if (shape == e.end() || !shape->is_array()) r.fail(t + ": missing 'shape'");
    if (offsets == e.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      r.fail(t + ": 'data_offsets' must be [begin, end]");
    const std::string dname = dt->get<std::string>();
    const StDtype* d = nullptr;
    for (const StDtype& k : kDtypes)
      if (dname == k.name) d = &k;
    if (!d) r.fail(t + ": unknown dtype '" + dname + "'");
    if (!d->dtype) r.fail(t + ": dtype " + dname + " is not supported (aprc reads F32, F16, BF16, F64, I32, I64, I8, U8)");
    SafetensorsTensor st;
    st.name = it.key();
    st.dtype = *d->dtype;
    uint64_t elements = 1;
    if (shape->empty()) r.fail(t + ": scalar tensors are not supported");
    if (shape->size() > 8) r.fail(t + ": " + std::to_string(shape->size()) + " dimensions (at most 8)");
    for (const json& dim : *shape) {
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > (uint64_t{1} << 40) ||
          mul_overflows(elements, dim.get<uint64_t>(), &elements))
        r.fail(t + ": bad shape");
      st.shape.push_back(static_cast<int64_t>(dim.get<uint64_t>()));
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
    uint64_t want;
    if (mul_overflows(elements, d->size, &want)) r.fail(t + ": shape " + shape_string(st.shape) + " is too large");
    if (begin > end || end > data_size)
      r.fail(t + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
             ") run past the end of the data (" + std::to_string(data_size) + " bytes)");
    if (end - begin != want)
      r.fail(t + ": data_offsets span " + std::to_string(end - begin) + " bytes, but " + dname + " " +
             shape_string(st.shape) + " needs " + std::to_string(want));
    st.data = bytes.subspan(data_begin + begin, end - begin);
    ranges.emplace_back(begin, end);
    out.push_back(std::move(st));
  }
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  for (size_t k = 1; k < order.size(); ++k)
    if (ranges[order[k]].first < ranges[order[k - 1]].second)
      r.fail("tensor '" + out[order[k]].name + "': data overlaps tensor '" + out[order[k - 1]].name + "'");
  return out;
}

}  // namespace aprc
