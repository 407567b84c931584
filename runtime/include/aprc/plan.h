// A compiled plan: what the compiler writes (PlanWriter) and the runtime loads (Plan).
//
// The file layout is in plan_format.h. The manifest (JSON, section "manifest") holds:
//   format_version, producer, source        what made the plan, from what
//   config                                  the ModelConfig
//   tokenizer                               the TokenizerData
//   kv_cache                                the KV-cache geometry (KvCacheGeometry)
//   weights                                 the weights table (PlanWeight), indexed by Arg::index
//   targets                                 per target ("cpu", "cuda"): what it needs of the machine,
//                                           its kernel table and its functions (schedule.h)
//   synthetic                               {preset, seed} for a synthetic plan (below)
//   options                                 compile options, recorded as given
//
// A synthetic plan (aprc compile --synthetic) stores the seed instead of the weights: the runtime
// generates the same random weights, directly in their target layouts, when the weights are first
// needed. Such plans are for benchmarks only; their text is meaningless.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aprc/formats/formats.h"
#include "aprc/formats/layouts.h"
#include "aprc/kernel_spec.h"
#include "aprc/mapped_file.h"
#include "aprc/model_config.h"
#include "aprc/schedule.h"
#include "aprc/tokenizer_data.h"

namespace aprc {

// One weight as stored: its IR symbol, the model tensor it came from, and where its bytes are.
struct PlanWeight {
  std::string name;    // the IR symbol, e.g. "layers.0.attn.q_proj.weight"
  std::string source;  // the canonical model tensor it was made from ("model.layers.0.self_attn.q_proj.weight")
  DType dtype = DType::F32;
  WeightLayout layout = WeightLayout::RowMajor;
  ScaleGranularity scales = ScaleGranularity::PerChannel;  // fp8 only
  std::vector<int64_t> shape;  // [out, in] or [n]
  uint64_t offset = 0;         // into the weights section (a multiple of kPlanWeightAlignment)
  uint64_t bytes = 0;          // layout_bytes(layout, dtype, rows, cols)
  int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  int64_t cols() const { return shape.empty() ? 0 : shape.back(); }
  bool operator==(const PlanWeight&) const = default;
};

// The KV cache: per layer a key and a value buffer, each [max_context][kv_heads * head_dim] of
// `dtype`, position-major. Kernels read positions [0, pos + T) of it and write [pos, pos + T), so
// the runtime may give it fewer positions than max_context (--context) without changing the code.
struct KvCacheGeometry {
  int64_t layers = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  DType dtype = DType::F32;
  int64_t max_context = 0;
  uint64_t bytes_per_position() const;  // of one layer's K (or V)
  bool operator==(const KvCacheGeometry&) const = default;
};

// A kernel of a target: the name the schedule calls it by (the symbol in the CPU shared object, the
// function in the cubin) and what it computes. `info` carries what a backend wants to record about
// it (for CUDA: registers, shared memory, spills), free-form.
struct PlanKernel {
  std::string name;
  KernelSpec spec;
  nlohmann::json info = nlohmann::json::object();
  bool operator==(const PlanKernel&) const = default;
};

struct PlanTarget {
  std::string name;                   // "cpu" or "cuda"
  std::string triple;                 // cpu: the target triple, "x86_64-unknown-linux-gnu"
  std::string cpu_name;               // cpu: the CPU the code is tuned for (LLVM's name), "znver5"
  std::vector<std::string> features;  // cpu: the features its code needs (cpu_target.h names)
  std::vector<std::string> cuda_archs;  // cuda: "sm_90", ...: one cubin section each
  bool has_ptx = false;                 // cuda: a PTX section for newer cards
  std::vector<PlanKernel> kernels;
  std::vector<Function> functions;    // "prefill", "prefill_last", "decode"

  const Function* function(std::string_view name) const;
  const PlanKernel* kernel(std::string_view name) const;
};

struct SyntheticInfo {
  std::string preset;  // synthetic.h
  uint64_t seed = 0;
  bool operator==(const SyntheticInfo&) const = default;
};

struct PlanManifest {
  uint32_t format_version = 0;  // filled by the writer
  std::string producer;         // "aprc 0.1.0"
  std::string source;           // the model file, or "synthetic:PRESET"
  ModelConfig config;
  TokenizerData tokenizer;
  KvCacheGeometry kv_cache;
  std::vector<PlanWeight> weights;
  std::vector<PlanTarget> targets;
  std::optional<SyntheticInfo> synthetic;
  nlohmann::json options = nlohmann::json::object();

  const PlanTarget* target(std::string_view name) const;
};

struct PlanSection {
  std::string name;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

class Plan {
 public:
  // Maps and checks a plan: magic, format version, section bounds, every section's CRC32, and the
  // manifest (schema, and every index, offset and size in it against what it points into). Throws
  // Error(BadInput) "PATH: what is wrong" for anything that is not a sound plan of this version.
  static std::shared_ptr<const Plan> open(const std::string& path);

  const std::string& path() const { return path_; }
  const PlanManifest& manifest() const { return manifest_; }
  const std::vector<PlanSection>& sections() const { return sections_; }
  std::optional<std::span<const uint8_t>> section(std::string_view name) const;
  const PlanTarget* target(std::string_view name) const { return manifest_.target(name); }
  bool synthetic() const { return manifest_.synthetic.has_value(); }

  // The weights section. A synthetic plan's weights are generated here on first use (seconds for a
  // 7B model, on every core); later calls return the same bytes.
  std::span<const uint8_t> weights() const;
  std::span<const uint8_t> weight(size_t index) const;  // manifest().weights[index]'s bytes
  uint64_t weights_size() const;                        // without generating them

  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

 private:
  Plan() = default;
  std::string path_;
  std::shared_ptr<const MappedFile> file_;
  std::vector<PlanSection> sections_;
  PlanManifest manifest_;
  mutable std::once_flag weights_once_;
  mutable std::shared_ptr<const MappedFile> generated_weights_;
};

// Whether `path` names a plan file (a regular file that starts with the plan magic). Commands that
// take a model or a plan dispatch on this.
bool is_plan_file(const std::string& path);

// Writes a plan. Weight bytes stream to the file as they are added (a 7B model's never sit in
// memory at once); the other sections are kept until finish(). The file appears under `path` only
// when finish() succeeds: it is written beside it and renamed.
class PlanWriter {
 public:
  explicit PlanWriter(std::string path);
  ~PlanWriter();  // removes the unfinished file
  PlanWriter(const PlanWriter&) = delete;
  PlanWriter& operator=(const PlanWriter&) = delete;

  // Appends a weight (bytes in its target layout) to the weights section; sets its offset and
  // size and returns its index in the weights table (what Arg::index of a Weight names).
  size_t add_weight(PlanWeight weight, std::span<const uint8_t> bytes);
  // Declares a weight of a synthetic plan: it gets an offset in the weights the runtime generates,
  // and no bytes in the file. A plan's weights are all stored or all generated.
  size_t add_generated_weight(PlanWeight weight);
  const std::vector<PlanWeight>& weights() const { return weights_; }

  // Adds a section (plan_format.h names); names are unique.
  void add_section(std::string name, std::vector<uint8_t> bytes);

  // Writes the manifest, whose weights table is replaced by the one built here and whose kernel
  // tables gain every kernel a step names, then the header; renames the file into place.
  void finish(PlanManifest manifest);

 private:
  void write_at(uint64_t offset, const void* data, size_t size);
  std::string path_, tmp_path_;
  int fd_ = -1;
  bool finished_ = false;
  std::vector<PlanWeight> weights_;
  uint64_t weights_end_ = 0;  // bytes of the weights section so far
  uint32_t weights_crc_ = 0;
  bool generated_ = false;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sections_;
};

// The manifest as JSON and back (plan_manifest.cpp). from_json checks the schema and throws
// Error(BadInput) "CONTEXT: manifest: KEY: what is wrong".
nlohmann::json manifest_to_json(const PlanManifest& manifest);
PlanManifest manifest_from_json(const nlohmann::json& json, const std::string& context);

}  // namespace aprc
