// aprc::Engine for plans with a cuda target (compiled into aprc_runtime, which owns Plan).
#include "aprc/cuda/plan_engine.h"

#include <algorithm>
#include <optional>

#include "aprc/cuda/engine.h"
#include "aprc/cuda/peak.h"
#include "aprc/error.h"
#include "aprc/plan_format.h"

namespace aprc::cuda {
namespace {

// What an observer reads after a step: device memory where the step's arguments point.
class Buffers final : public StepBuffers {
 public:
  explicit Buffers(const cuda::Engine::ArgReader& read) : read_(read) {}
  void read(size_t arg, int64_t offset, size_t bytes, void* dst) const override { read_(arg, offset, bytes, dst); }

 private:
  const cuda::Engine::ArgReader& read_;
};

class CudaPlanEngine final : public aprc::Engine {
 public:
  CudaPlanEngine(std::shared_ptr<const Plan> plan, const aprc::EngineOptions& options, std::unique_ptr<Device> device)
      : plan_(std::move(plan)) {
    const PlanManifest& m = plan_->manifest();
    const PlanTarget* target = m.target("cuda");
    if (!target || target->functions.empty())
      throw_bad_input(plan_->path() + ": the plan has no kernels for the cuda engine (compile with --target cuda)");
    const KvCacheGeometry& kv = m.kv_cache;
    context_ = options.context > 0 ? std::min(options.context, kv.max_context) : kv.max_context;
    if (context_ <= 0) throw_bad_input(plan_->path() + ": the plan's KV cache holds no positions");
    std::vector<std::span<const uint8_t>> weights;
    for (size_t i = 0; i < m.weights.size(); ++i) weights.push_back(plan_->weight(i));
    cuda::EngineOptions eo;
    eo.context = context_;
    eo.vocab = m.config.vocab_size;
    device_name_ = device->description();
    try {
      engine_ = std::make_unique<cuda::Engine>(std::move(device), module_image_of(*plan_), target->functions, weights,
                                               KvCacheDesc{kv.layers, kv.kv_heads, kv.head_dim, kv.dtype}, eo);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::BadInput) throw;
      throw Error(e.kind(), plan_->path() + ": " + e.what());  // e.g. kernels built for another GPU
    }
  }

  std::string_view kind() const override { return "cuda"; }
  std::string device() const override { return device_name_; }
  int64_t context() const override { return context_; }

  void run(const Function& fn, std::span<const int32_t> ids, int64_t pos, float* logits) override {
    const int64_t rows = fn.name == "prefill" ? static_cast<int64_t>(ids.size()) : 1;
    if (!observer_) {
      engine_->run_into(fn.name, ids, pos, rows, logits);
      return;
    }
    const int64_t T = static_cast<int64_t>(ids.size());
    engine_->run_observed(
        fn.name, ids, pos, rows, logits,
        [&](size_t index, double seconds, const cuda::Engine::ArgReader& read) {
          const Buffers buffers(read);
          observer_->after_step(StepEvent{fn, index, T, pos, seconds, buffers});
        },
        observer_->wants_timing());
  }

  bool decode_greedy(const Function& fn, int32_t first, int64_t pos, std::span<int32_t> out) override {
    return !observer_ && engine_->decode_greedy(fn.name, first, pos, out);
  }
  // Runs of 8: the host round trip of a run spread over 8 tokens, at most 7 decoded past a stop token.
  int64_t greedy_run() override { return !observer_ && engine_->samples_greedy() ? 8 : 1; }

  void set_step_observer(StepObserver* observer) override { observer_ = observer; }

  MemoryBandwidth measure_memory_bandwidth() override {
    MemoryBandwidth b;
    b.copy_gbs = engine_->device().copy_bandwidth_gbs(uint64_t(1) << 30, 20);
    b.roofline_gbs = b.copy_gbs;
    b.roofline = "device-to-device copy of 1 GiB, bytes read + written";
    return b;
  }

  // One measurement gives both (cuda/peak.h): fp32 FMA chains, then the tensor-core instructions.
  double measure_peak_gflops() override {
    peaks_ = measure_peaks(engine_->device());
    return peaks_->fp32_gflops;
  }
  TensorPeaks measure_tensor_peaks() override {
    if (!peaks_) peaks_ = measure_peaks(engine_->device());
    return {peaks_->bf16_gflops, peaks_->fp8_gflops};
  }

 private:
  std::shared_ptr<const Plan> plan_;
  std::unique_ptr<cuda::Engine> engine_;
  std::string device_name_;
  int64_t context_ = 0;
  StepObserver* observer_ = nullptr;
  std::optional<Peaks> peaks_;  // the last measurement
};

}  // namespace

ModuleImage module_image_of(const Plan& plan) {
  ModuleImage img;
  for (const PlanSection& s : plan.sections()) {
    if (s.name.rfind(plan_section::kCudaCubinPrefix, 0) != 0) continue;
    const std::string arch = s.name.substr(plan_section::kCudaCubinPrefix.size());  // "sm_90"
    if (arch.size() < 4 || arch.compare(0, 3, "sm_") != 0)
      throw_bad_input(plan.path() + ": section " + s.name + " does not name an sm_XX architecture");
    const auto bytes = *plan.section(s.name);
    img.cubins.emplace_back(std::stoi(arch.substr(3)), std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  if (auto ptx = plan.section(plan_section::kCudaPtx)) {
    img.ptx.assign(ptx->begin(), ptx->end());
    const size_t at = img.ptx.find(".target sm_");  // the PTX names the compute capability it targets
    if (at == std::string::npos) throw_bad_input(plan.path() + ": section cuda.ptx has no .target line");
    img.ptx_arch = std::atoi(img.ptx.c_str() + at + 11);
  }
  if (auto src = plan.section(plan_section::kCudaSource)) img.source.assign(src->begin(), src->end());
  if (img.cubins.empty() && img.ptx.empty() && img.source.empty())
    throw_bad_input(plan.path() + ": the plan has a cuda target but no cubin, PTX or source sections");
  return img;
}

std::unique_ptr<aprc::Engine> open_cuda_engine(std::shared_ptr<const Plan> plan, const aprc::EngineOptions& options,
                                               std::unique_ptr<Device> device) {
  return std::make_unique<CudaPlanEngine>(std::move(plan), options, std::move(device));
}

std::unique_ptr<aprc::Engine> open_cuda_engine(std::shared_ptr<const Plan> plan, const aprc::EngineOptions& options) {
  const PlanTarget* target = plan->target("cuda");
  if (!target || target->functions.empty())
    throw_bad_input(plan->path() + ": the plan has no kernels for the cuda engine (compile with --target cuda)");
  std::string why;
  if (!cuda_available(&why)) throw_bad_input(plan->path() + ": cannot run the cuda engine here: " + why);
  return open_cuda_engine(std::move(plan), options, open_cuda_device(options.device));
}

}  // namespace aprc::cuda
