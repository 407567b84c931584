// Synthetic Qwen2.5 models, for benchmarks and demos: the real dimensions of a preset, and
// deterministic random weights of the types llama.cpp's Q4_K_M mix gives each tensor (Q4_K, with
// Q6_K for the output and for attn_v / ffn_down in some layers; Q5_0 / Q8_0 where a row is not a
// whole number of 256-weight blocks). The weights are valid blocks with random, varied values, not
// the quantization of anything: the text such a model writes means nothing.
//
// Weights are a function of (seed, tensor name, row) only, so any thread count, any order, the
// compiler's Model (frontend/synthetic_model.cpp) and a synthetic plan loaded by the runtime all
// see the same bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprc/formats/formats.h"
#include "aprc/mapped_file.h"
#include "aprc/model_config.h"

namespace aprc {

struct PlanManifest;
class ThreadPool;

inline constexpr uint64_t kDefaultSyntheticSeed = 20250101;

// "tiny" (the shape of the test fixture: hidden 256, 4 layers; for tests and the demo),
// "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b".
std::span<const char* const> synthetic_preset_names();

// The preset's configuration; Error(BadInput) naming the presets for an unknown name.
ModelConfig synthetic_config(std::string_view preset);

struct SyntheticTensor {
  std::string name;  // canonical (Hugging Face) name
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // [out, in] or [n]
  int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  int64_t cols() const { return shape.back(); }
};

// Every tensor of a Qwen2 model of `config`, typed as llama.cpp's Q4_K_M mix types them.
std::vector<SyntheticTensor> synthetic_tensors(const ModelConfig& config);

// Writes rows [row_begin, row_end) of tensor `t`, row-major, into `out` (row_bytes(t.dtype,
// t.cols()) bytes a row).
void generate_synthetic_rows(uint64_t seed, const SyntheticTensor& t, int64_t row_begin, int64_t row_end, uint8_t* out);

// The whole tensor, row-major, on the pool's threads.
std::vector<uint8_t> generate_synthetic_tensor(uint64_t seed, const SyntheticTensor& t, ThreadPool& pool);

// Checks that a synthetic plan's manifest names a known preset with its config, and weights that
// the generator can make (a known source tensor of the same shape). BadInput otherwise.
void check_synthetic_manifest(const PlanManifest& manifest, const std::string& path);

// The weights section of a synthetic plan: every weight generated at its offset, on every core, and
// where the plan's layout or encoding differs from the preset's tensor, converted as the compiler
// converts stored tensors (convert_weight).
std::shared_ptr<const MappedFile> generate_synthetic_weights(const PlanManifest& manifest, const std::string& path);

}  // namespace aprc
