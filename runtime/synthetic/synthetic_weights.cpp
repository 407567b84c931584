// Deterministic random weights, written directly as valid blocks of each format (quantizing random
// floats would cost minutes for a 7B model; writing random block fields costs seconds).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"
#include "aprc/formats/layouts.h"
#include "aprc/formats/weight_convert.h"
#include "aprc/plan.h"
#include "aprc/synthetic.h"
#include "aprc/thread_pool.h"

namespace aprc {
namespace {

// SplitMix64: a counter-based generator, so that any row can be generated on its own.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class RowRandom {
 public:
  RowRandom(uint64_t seed, uint64_t tensor_key, int64_t row)
      : state_(mix64(seed ^ mix64(tensor_key + static_cast<uint64_t>(row) * 0x9E3779B97F4A7C15ull))) {}
  uint64_t next() { return mix64(state_ += 0x9E3779B97F4A7C15ull); }
  void fill(uint8_t* out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t v = next();
      std::memcpy(out + i, &v, 8);
    }
    if (i < n) {
      uint64_t v = next();
      std::memcpy(out + i, &v, n - i);
    }
  }
  // Uniform in [lo, hi].
  int uniform_int(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  // Uniform in [-1, 1).
  float uniform() { return static_cast<float>(static_cast<int64_t>(next() >> 40) - (int64_t{1} << 23)) * 0x1p-23f; }

 private:
  uint64_t state_;
};

uint64_t name_key(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Random block scales in [v, 2v): they vary across blocks by up to 2x, as real ones do.
struct ScaleRange {
  float v;
  explicit ScaleRange(float lowest) : v(lowest) {}
  uint16_t draw(RowRandom& r) const { return f32_to_f16(v * (1.5f + 0.5f * r.uniform())); }
};

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Packs eight 6-bit scales and mins the way Q4_K / Q5_K store them (see aprc_k_scale_min).
void pack_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

// Weights of about uniform [-a, a]: block scales are chosen so that the quantized values span it.
void generate_row(DType dtype, int64_t cols, float a, bool is_norm, RowRandom& r, uint8_t* out) {
  switch (dtype) {
    case DType::F32:
      for (int64_t i = 0; i < cols; ++i) {
        const float v = is_norm ? 1.0f + 0.25f * r.uniform() : a * r.uniform();
        std::memcpy(out + 4 * i, &v, 4);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < cols; ++i) {
        const float v = is_norm ? 1.0f + 0.25f * r.uniform() : a * r.uniform();
        uint32_t u;
        std::memcpy(&u, &v, 4);
        put16(out + 2 * i, static_cast<uint16_t>(u >> 16));  // a bf16 is the top half of an f32
      }
      return;
    case DType::F16:
      for (int64_t i = 0; i < cols; ++i) {
        const float v = is_norm ? 1.0f + 0.25f * r.uniform() : a * r.uniform();
        put16(out + 2 * i, f32_to_f16(v));
      }
      return;
    case DType::Q8_0: {
      const ScaleRange d(a / 127 * 0.75f);
      for (int64_t b = 0; b < cols / APRC_QK8_0; ++b, out += sizeof(aprc_block_q8_0)) {
        put16(out, d.draw(r));
        r.fill(out + 2, APRC_QK8_0);
      }
      return;
    }
    case DType::Q5_0: {
      const ScaleRange d(a / 16 * 0.75f);
      for (int64_t b = 0; b < cols / APRC_QK5_0; ++b, out += sizeof(aprc_block_q5_0)) {
        put16(out, d.draw(r));
        r.fill(out + 2, 4 + APRC_QK5_0 / 2);
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      // w = d * sc * q - dmin * m with sc, m in [32, 63] and q in [0, 15] (Q5_K: [0, 31]);
      // dmin = d * mean(q) centres the values.
      const float qmid = dtype == DType::Q4_K ? 7.5f : 15.5f;
      const ScaleRange d(a / (qmid * 47.5f) * 0.75f), dmin(a / 47.5f * 0.75f);
      const size_t block = dtype == DType::Q4_K ? sizeof(aprc_block_q4_k) : sizeof(aprc_block_q5_k);
      for (int64_t b = 0; b < cols / APRC_QK_K; ++b, out += block) {
        put16(out, d.draw(r));
        put16(out + 2, dmin.draw(r));
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; ++j) {
          sc[j] = static_cast<uint8_t>(r.uniform_int(32, 63));
          m[j] = static_cast<uint8_t>(r.uniform_int(32, 63));
        }
        pack_k_scales(sc, m, out + 4);
        r.fill(out + 4 + APRC_K_SCALE_SIZE, block - 4 - APRC_K_SCALE_SIZE);  // (qh and) qs
      }
      return;
    }
    case DType::Q6_K: {
      // w = d * scale * (q - 32), q - 32 in [-32, 31], |scale| in [16, 127].
      const ScaleRange d(a / (32 * 71.5f) * 0.75f);
      for (int64_t b = 0; b < cols / APRC_QK_K; ++b, out += sizeof(aprc_block_q6_k)) {
        r.fill(out, APRC_QK_K / 2 + APRC_QK_K / 4);  // ql, qh
        int8_t* scales = reinterpret_cast<int8_t*>(out + APRC_QK_K / 2 + APRC_QK_K / 4);
        for (int j = 0; j < APRC_QK_K / 16; ++j)
          scales[j] = static_cast<int8_t>(r.uniform_int(16, 127) * ((r.next() & 1) ? -1 : 1));
        put16(out + sizeof(aprc_block_q6_k) - 2, d.draw(r));
      }
      return;
    }
    default:
      throw_bad_input(std::string("synthetic weights of dtype ") + dtype_name(dtype) + " are not supported");
  }
}

}  // namespace

void generate_synthetic_rows(uint64_t seed, const SyntheticTensor& t, int64_t row_begin, int64_t row_end, uint8_t* out) {
  const auto rb = row_bytes(t.dtype, t.cols());
  if (!rb || row_begin < 0 || row_end > t.rows() || row_begin > row_end)
    throw_internal("generate_synthetic_rows: bad rows or shape for '" + t.name + "'");
  const bool is_norm = t.name.find("norm") != std::string::npos;
  const bool is_bias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
  // Matrices: uniform with variance 1/cols, so activations keep their scale through a layer.
  const float a = is_bias ? 0.5f : std::sqrt(3.0f / static_cast<float>(t.cols()));
  const uint64_t key = name_key(t.name);
  for (int64_t row = row_begin; row < row_end; ++row) {
    RowRandom r(seed, key, row);
    generate_row(t.dtype, t.cols(), a, is_norm, r, out + (row - row_begin) * *rb);
  }
}

std::vector<uint8_t> generate_synthetic_tensor(uint64_t seed, const SyntheticTensor& t, ThreadPool& pool) {
  const auto bytes = tensor_bytes(t.dtype, t.shape);
  if (!bytes) throw_internal("generate_synthetic_tensor: '" + t.name + "' is not a whole number of blocks per row");
  std::vector<uint8_t> out(*bytes);
  const uint64_t rb = *bytes / t.rows();
  pool.parallel_for(t.rows(), 1, [&](int64_t b, int64_t e) { generate_synthetic_rows(seed, t, b, e, out.data() + b * rb); });
  return out;
}

void check_synthetic_manifest(const PlanManifest& m, const std::string& path) {
  ModelConfig config;
  try {
    config = synthetic_config(m.synthetic->preset);
  } catch (const Error& e) {
    throw_bad_input(path + ": " + e.what());
  }
  if (!(config == m.config))
    throw_bad_input(path + ": the plan's model config differs from synthetic preset '" + m.synthetic->preset + "'");
  std::map<std::string, SyntheticTensor> tensors;
  for (SyntheticTensor& t : synthetic_tensors(config)) tensors.emplace(t.name, std::move(t));
  for (const PlanWeight& w : m.weights) {
    auto it = tensors.find(w.source);
    if (it == tensors.end())
      throw_bad_input(path + ": weight '" + w.name + "': synthetic preset '" + m.synthetic->preset + "' has no tensor '" + w.source + "'");
    if (it->second.shape != w.shape)
      throw_bad_input(path + ": weight '" + w.name + "' does not have the shape of the tensor '" + w.source +
                      "' of synthetic preset '" + m.synthetic->preset + "'");
  }
}

std::shared_ptr<const MappedFile> generate_synthetic_weights(const PlanManifest& m, const std::string& path) {
  check_synthetic_manifest(m, path);
  std::map<std::string, SyntheticTensor> tensors;
  for (SyntheticTensor& t : synthetic_tensors(m.config)) tensors.emplace(t.name, std::move(t));
  uint64_t total = 0;
  for (const PlanWeight& w : m.weights) total = std::max(total, w.offset + w.bytes);
  const uint64_t seed = m.synthetic->seed;
  ThreadPool pool;
  return MappedFile::anonymous(path + " (synthetic weights)", total, [&](uint8_t* base) {
    for (const PlanWeight& w : m.weights) {
      const SyntheticTensor& t = tensors.at(w.source);
      if (w.layout == WeightLayout::RowMajor && w.dtype == t.dtype) {
        const uint64_t rb = w.bytes / t.rows();
        pool.parallel_for(t.rows(), 1, [&](int64_t b, int64_t e) {
          generate_synthetic_rows(seed, t, b, e, base + w.offset + b * rb);
        });
      } else {
        // Another layout or encoding (a pass cast it): the compiler's own conversion of the tensor.
        std::vector<uint8_t> row_major = generate_synthetic_tensor(seed, t, pool);
        std::vector<uint8_t> converted =
            convert_weight(TensorView{t.dtype, t.shape, row_major}, w.dtype, w.scales, w.layout);
        if (converted.size() != w.bytes) throw_internal("synthetic weights: '" + w.name + "' converts to the wrong size");
        std::memcpy(base + w.offset, converted.data(), converted.size());
      }
    }
  });
}

}  // namespace aprc
