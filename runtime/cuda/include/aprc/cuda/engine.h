// The CUDA engine: runs a plan's cuda functions (their schedules) on a Device. One device arena per
// plan (shared by the functions, which run one at a time), the weights and the KV caches on the GPU,
// steps launched in order; a function whose calls have one token (decode) is captured as a CUDA graph
// on its first call and replayed after that, with only the small table of step scalars (T, pos)
// updated before each replay.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "aprc/cuda/abi.h"
#include "aprc/cuda/device.h"
#include "aprc/schedule.h"

namespace aprc::cuda {

struct KvCacheDesc {
  int64_t layers = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  DType dtype = DType::F32;
};

struct EngineOptions {
  int64_t context = 4096;  // KV-cache rows per layer
  int64_t vocab = 0;       // logits row width
  bool graphs = true;      // capture one-token functions as CUDA graphs
};

class Engine {
 public:
  // `weights[i]` are the bytes of Arg{Weight, i}, already in their target layout.
  Engine(std::unique_ptr<Device> device, const ModuleImage& image, std::vector<Function> functions,
         const std::vector<std::span<const uint8_t>>& weights, const KvCacheDesc& kv, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs function `name` on `ids` (T = ids.size() tokens at positions pos .. pos+T-1) and copies
  // `logits_rows` rows of logits to `logits` (resized) when it is not null.
  void run(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logits_rows,
           std::vector<float>* logits);
  // The same into `logits_rows` rows of host memory at `logits` (null: none), with no copy between.
  void run_into(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logits_rows, float* logits);

  // Greedy decoding on the device: feeds `first` at `pos` to `name` (one token a call), then each call's
  // argmax in turn, out.size() calls; out[i] is the argmax after call i. The sampler kernel picks each
  // token where the logits are and moves the position on, so the calls follow one another with no
  // logits download and no host work between them. False (nothing run) when the module has no sampler
  // (a plan compiled before it) or the vocabulary is too large for it.
  bool decode_greedy(const std::string& name, int32_t first, int64_t pos, std::span<int32_t> out);
  // Whether decode_greedy picks the tokens on the GPU (the module has the sampler, and the vocabulary
  // fits its 24-bit candidates); else it returns false and the caller decodes and picks them.
  bool samples_greedy();

  // Launches each step of `name` alone between two timer events (no graph) and returns the seconds
  // each took, averaged over `reps` calls (profiling; the calls change the KV cache at pos).
  std::vector<double> profile_steps(const std::string& name, std::span<const int32_t> ids, int64_t pos, int reps);
  // Turns graph capture/replay on or off (on by default when options.graphs).
  void set_graphs(bool on) { use_graphs_ = on; }
  // Launches step `index` of `name` `reps` times back to back between two timer events and returns
  // the seconds per launch (profiling; the launches repeat the step's writes).
  double profile_step_repeated(const std::string& name, size_t index, std::span<const int32_t> ids, int64_t pos, int reps);
  // Drops captured graphs (they are captured again on the next call), e.g. after changing launch options.
  void reset_graphs();
  const std::vector<Step>& steps(const std::string& name) const;

  // After each step of a call: its index, its time (when asked), and a reader of its arguments
  // (arg index into Step::args, byte offset from where it points, bytes, host destination).
  using ArgReader = std::function<void(size_t arg, int64_t offset, size_t bytes, void* dst)>;
  using StepCallback = std::function<void(size_t index, double seconds, const ArgReader& read)>;
  // run() with a callback after every step: the steps are launched one by one (no graph) and each
  // is waited for (and timed with events when `timing`).
  void run_observed(const std::string& name, std::span<const int32_t> ids, int64_t pos, int64_t logits_rows,
                    float* logits, const StepCallback& after_step, bool timing);

  Device& device() { return *device_; }
  const EngineOptions& options() const { return options_; }
  // Whether `name` replays a captured graph.
  bool uses_graph(const std::string& name) const;
  // Device memory the engine holds (weights, arena, caches, workspaces).
  uint64_t device_bytes() const { return device_bytes_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Reads / writes `bytes` of the arena at `offset` (tests, debugging).
  void read_arena(int64_t offset, void* dst, uint64_t bytes);
  void write_arena(int64_t offset, const void* src, uint64_t bytes);
  // Reads row range of layer `layer`'s K or V cache (tests).
  void read_cache(int64_t layer, bool v, int64_t row_begin, int64_t rows, void* dst);

 private:
  struct PreparedStep;
  struct PreparedFunction;

  DevPtr alloc(uint64_t bytes, const std::string& what);
  DevPtr bind(const Arg& a, int64_t T, int64_t pos, const Step& st) const;
  // Binds a step's arguments for (T, pos) and computes its launch shape.
  LaunchShape bind_step(PreparedStep& ps, int64_t T, int64_t pos);
  void launch_steps(PreparedFunction& f, int64_t T, int64_t pos, std::vector<double>* step_seconds = nullptr);
  // Runs the steps of a prepared call: the captured graph (one token, graphs on) or launch by launch.
  void execute(PreparedFunction& f, const std::string& name, int64_t T, int64_t pos);
  PreparedFunction& prepare_call(const std::string& name, std::span<const int32_t> ids, int64_t pos);

  std::unique_ptr<Device> device_;
  EngineOptions options_;
  KvCacheDesc kv_;
  std::vector<DevPtr> weights_;
  std::vector<DevPtr> cache_k_, cache_v_;
  DevPtr arena_ = 0, ids_ = 0, logits_ = 0;
  int64_t max_tokens_ = 1;
  std::vector<DevPtr> owned_;
  std::map<std::string, std::unique_ptr<PreparedFunction>> functions_;
  uint64_t device_bytes_ = 0, weight_bytes_ = 0;
  bool use_graphs_ = true;
  void* greedy_kernel_ = nullptr;  // the module's sampler (decode_greedy), looked up once
  bool greedy_looked_up_ = false;
  DevPtr greedy_out_ = 0, greedy_scalars_ = 0, greedy_ws_ = 0;  // greedy_out_ follows the workspace
  int64_t greedy_capacity_ = 0;  // tokens greedy_out_ holds
};

}  // namespace aprc::cuda
