#include "aprc/cpu_engine.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>

#include "aprc/cpu_target.h"
#include "aprc/error.h"
#include "aprc/thread_pool.h"
#include "exec/host_buffer.h"
#include "exec/memory_bandwidth.h"
#include "exec/peak_flops.h"

namespace aprc {
namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
  }
  return "CPU";
}

// A step with its kernel resolved.
struct BoundStep {
  const Step* step;
  CpuKernelFn kernel;
};

struct BoundFunction {
  const Function* function;
  std::vector<BoundStep> steps;
  HostBuffer arena;
};

// A step's arguments as the CPU engine bound them: host pointers, read in place.
struct HostStepBuffers final : StepBuffers {
  void* const* args;
  size_t count;
  HostStepBuffers(void* const* args, size_t count) : args(args), count(count) {}
  void read(size_t arg, int64_t offset, size_t bytes, void* dst) const override {
    if (arg >= count) throw_internal("cpu engine: a step observer read argument " + std::to_string(arg) + " of " + std::to_string(count));
    std::memcpy(dst, static_cast<const uint8_t*>(args[arg]) + offset, bytes);
  }
};

class CpuEngine final : public Engine {
 public:
  CpuEngine(std::shared_ptr<const Plan> plan, const PlanTarget& target, const EngineOptions& options,
            const CpuKernelResolver& resolve)
      : plan_(std::move(plan)), resolve_(resolve), pool_(options.threads) {
    const KvCacheGeometry& kv = plan_->manifest().kv_cache;
    context_ = options.context > 0 ? options.context : kv.max_context;
    if (context_ > kv.max_context)
      throw_bad_input(plan_->path() + ": a context of " + std::to_string(context_) + " positions is more than the " +
                      std::to_string(kv.max_context) + " the plan was compiled for");
    layer_bytes_ = kv.bytes_per_position() * static_cast<uint64_t>(context_);
    kv_cache_ = HostBuffer(2 * layer_bytes_ * static_cast<uint64_t>(kv.layers), plan_->path() + ": KV cache");
    weights_ = plan_->weights().data();  // generates a synthetic plan's weights now, not mid-run

    size_t max_args = 0, max_scalars = 0;
    for (const Function& f : target.functions) {
      BoundFunction bound{&f, {}, HostBuffer(static_cast<size_t>(f.arena_bytes), plan_->path() + ": arena of " + f.name)};
      for (const Step& st : f.steps) {
        CpuKernelFn fn = resolve_(st.kernel);
        if (!fn) throw_bad_input(plan_->path() + ": the CPU code has no kernel '" + st.kernel + "'");
        bound.steps.push_back({&st, fn});
        max_args = std::max(max_args, st.args.size());
        max_scalars = std::max(max_scalars, st.scalars.size());
      }
      functions_.push_back(std::move(bound));
    }
    args_.resize(max_args);
    scalars_.resize(max_scalars);
    device_ = cpu_model_name() + " (" + std::to_string(pool_.size()) + " threads)";
  }

  std::string_view kind() const override { return "cpu"; }
  std::string device() const override { return device_; }

  MemoryBandwidth measure_memory_bandwidth() override {
    MemoryBandwidth bw;
    bw.read_gbs = measure_read_bandwidth(pool_, size_t{512} << 20, 5);
    bw.copy_gbs = measure_copy_bandwidth(pool_, size_t{256} << 20, 5);
    bw.roofline_gbs = bw.read_gbs;
    bw.roofline = "read: sums of a 512 MiB buffer on " + std::to_string(pool_.size()) + " threads, best of 5";
    return bw;
  }
  double measure_peak_gflops() override { return aprc::measure_peak_gflops(pool_); }
  int64_t context() const override { return context_; }
  void set_step_observer(StepObserver* observer) override { observer_ = observer; }

  void run(const Function& fn, std::span<const int32_t> ids, int64_t pos, float* logits) override {
    BoundFunction* bound = nullptr;
    for (BoundFunction& b : functions_)
      if (b.function == &fn) bound = &b;
    if (!bound) throw_internal("cpu engine: function '" + fn.name + "' is not one of the plan's cpu functions");
    const int64_t T = static_cast<int64_t>(ids.size());
    if (T < 1 || T > fn.max_tokens || pos < 0 || pos + T > context_)
      throw_internal("cpu engine: call of '" + fn.name + "' with T = " + std::to_string(T) + " at " + std::to_string(pos));

    const bool timed = observer_ && observer_->wants_timing();
    for (size_t index = 0; index < bound->steps.size(); ++index) {
      const BoundStep& bs = bound->steps[index];
      const Step& st = *bs.step;
      for (size_t i = 0; i < st.args.size(); ++i) args_[i] = address(st.args[i], *bound, ids, logits, T, pos);
      for (size_t i = 0; i < st.scalars.size(); ++i) scalars_[i] = st.scalars[i].eval(T, pos);
      const int64_t extent = st.extent.eval(T, pos);
      void* const* args = args_.data();
      const int64_t* scalars = scalars_.data();
      CpuKernelFn kernel = bs.kernel;
      const auto start = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
      pool_.parallel_for(extent, st.grain, [=](int64_t b, int64_t e) { kernel(args, scalars, b, e); });
      if (observer_) {
        const double seconds =
            timed ? std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() : 0.0;
        const HostStepBuffers buffers(args, st.args.size());
        observer_->after_step(StepEvent{fn, index, T, pos, seconds, buffers});
      }
    }
  }

 private:
  void* address(const Arg& a, const BoundFunction& f, std::span<const int32_t> ids, float* logits, int64_t T,
                int64_t pos) const {
    const int64_t offset = a.offset.eval(T, pos);
    switch (a.kind) {
      case ArgKind::Arena:
        return f.arena.data() + offset;
      case ArgKind::Weight:
        return const_cast<uint8_t*>(weights_) + plan_->manifest().weights[a.index].offset + offset;
      case ArgKind::CacheK:
        return kv_cache_.data() + (2 * a.index) * layer_bytes_ + offset;
      case ArgKind::CacheV:
        return kv_cache_.data() + (2 * a.index + 1) * layer_bytes_ + offset;
      case ArgKind::InputIds:
        return reinterpret_cast<uint8_t*>(const_cast<int32_t*>(ids.data())) + offset;
      case ArgKind::Logits:
        return reinterpret_cast<uint8_t*>(logits) + offset;
    }
    throw_internal("cpu engine: unknown argument kind");
  }

  std::shared_ptr<const Plan> plan_;
  CpuKernelResolver resolve_;  // kept: it may own the code the kernels live in
  ThreadPool pool_;
  int64_t context_ = 0;
  uint64_t layer_bytes_ = 0;  // one layer's K (or V) for the whole context
  HostBuffer kv_cache_;        // [layer][K, V][position][kv_heads * head_dim]
  const uint8_t* weights_ = nullptr;
  std::vector<BoundFunction> functions_;
  std::vector<void*> args_;
  std::vector<int64_t> scalars_;
  std::string device_;
  StepObserver* observer_ = nullptr;
};

}  // namespace

const PlanTarget& checked_cpu_target(const Plan& plan) {
  const PlanTarget* target = plan.target("cpu");
  if (!target || target->functions.empty()) {
    std::string targets;
    for (const PlanTarget& t : plan.manifest().targets) targets += (targets.empty() ? "" : ", ") + t.name;
    throw_bad_input(plan.path() + ": the plan has no kernels for the cpu engine (it was compiled for: " +
                    (targets.empty() ? std::string("nothing") : targets) + "; compile with --target cpu)");
  }
  const std::string arch = target->triple.substr(0, target->triple.find('-'));
#if defined(__x86_64__)
  const char* host = "x86_64";
#elif defined(__aarch64__)
  const char* host = "aarch64";
#else
  const char* host = "unknown";
#endif
  if (arch != host)
    throw_bad_input(plan.path() + ": the plan's CPU code is for " + target->triple + "; this machine is " + host);
  const std::vector<std::string> missing = missing_cpu_features(CpuTarget{target->triple, target->cpu_name, target->features});
  if (!missing.empty()) {
    std::string list;
    for (const std::string& f : missing) list += (list.empty() ? "" : ", ") + f;
    throw_bad_input(plan.path() + ": the plan's CPU code needs " + list + ", which this CPU lacks (it was compiled for " +
                    (target->cpu_name.empty() ? std::string("another CPU") : target->cpu_name) +
                    "; compile the plan on this machine)");
  }
  return *target;
}

std::unique_ptr<Engine> open_cpu_engine(std::shared_ptr<const Plan> plan, const EngineOptions& options,
                                        CpuKernelResolver resolve) {
  const PlanTarget& target = checked_cpu_target(*plan);
  return std::make_unique<CpuEngine>(std::move(plan), target, options, resolve);
}

}  // namespace aprc
