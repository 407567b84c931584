// An engine runs a plan's functions on one kind of device. Each backend (cpu here, cuda in
// runtime/cuda) implements Engine; everything above it (Session: chunked prefill, decode, the
// context limit; the generation loop; bench) is shared.
//
// What an engine owns: the weights where its kernels read them (the mapped plan for cpu, device
// memory for cuda), one arena per function (Function::arena_bytes), and the KV cache (one K and
// one V buffer per layer, KvCacheGeometry). What it does: for a call (ids, T, pos), replay the
// function's steps in order with each argument bound (Arg, Expr) and write the logits to the host.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "aprc/plan.h"
#include "aprc/schedule.h"

namespace aprc {

// What an engine shows a StepObserver after each step of a run.
class StepBuffers {
 public:
  // Copies `bytes` bytes at byte `offset` from where the step's argument `arg` (an index into
  // Step::args) points in this call (its Arg::offset already applied) to `dst` on the host.
  // Valid only during after_step.
  virtual void read(size_t arg, int64_t offset, size_t bytes, void* dst) const = 0;

 protected:
  ~StepBuffers() = default;
};

struct StepEvent {
  const Function& function;
  size_t index;  // into function.steps
  int64_t T;     // tokens of the call
  int64_t pos;   // position of its first token
  double seconds;  // the step alone, when the observer wants_timing(); else 0
  const StepBuffers& buffers;
  const Step& step() const { return function.steps[index]; }
};

// Sees every step of every run of an engine, after the step finished and before the next one
// starts (so that it can read outputs that later steps overwrite): `aprc verify` reads each step's
// OutputName values, `aprc bench --per-kernel` its time. Engines call it only when one is set; a
// run without an observer costs nothing more.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  // Whether StepEvent::seconds should be measured: the cpu engine reads a clock around each step;
  // the cuda engine times each step with events (launching step by step, no graph replay).
  virtual bool wants_timing() const { return false; }
  virtual void after_step(const StepEvent& event) = 0;
};

struct EngineOptions {
  int threads = 0;      // cpu: threads running the kernels (0: one per core)
  int64_t context = 0;  // positions the KV cache holds (0: the plan's max_context; never more)
  int device = 0;       // cuda: the device ordinal
};

// The device's memory bandwidth, measured when asked (bench compares decode with it).
struct MemoryBandwidth {
  double roofline_gbs = 0;  // what decode is held to: cpu, multithreaded read; cuda, device copy
  std::string roofline;     // how that figure was measured, for people
  double read_gbs = 0;      // bytes read per second / 1e9 (0 when not measured)
  double copy_gbs = 0;      // (bytes read + bytes written) per second / 1e9 of a copy (0 when not measured)
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::string_view kind() const = 0;  // "cpu", "cuda"
  // What runs the kernels, for people and for bench's "device": "AMD EPYC 9R45 (2 threads)",
  // "NVIDIA H100 80GB HBM3 (sm_90)".
  virtual std::string device() const = 0;
  virtual int64_t context() const = 0;  // positions the KV cache holds

  // Runs `fn` (one of this engine's target's functions) for T = ids.size() tokens at positions
  // [pos, pos + T): their keys and values go into the KV cache, and the logits (T rows for
  // "prefill", one row for "prefill_last" and "decode", of vocab_size floats) into `logits` on the
  // host. The caller ensures 1 <= T <= fn.max_tokens, pos + T <= context() and ids < vocab_size
  // (Session does).
  virtual void run(const Function& fn, std::span<const int32_t> ids, int64_t pos, float* logits) = 0;

  // Greedy decoding where the logits are: feeds `first` at `pos` to `fn` (one token a call), then each
  // call's argmax (the first of equal logits; NaN never) in turn, for out.size() calls; out[i] is the argmax after
  // call i. False when this engine leaves that to the caller (run() and an argmax on the host: the
  // default); the cuda engine picks the tokens on the GPU, so no logits cross to the host and the
  // calls follow one another without waiting for it. Same preconditions as run().
  virtual bool decode_greedy(const Function& fn, int32_t first, int64_t pos, std::span<int32_t> out) { return false; }
  // How many greedy tokens a caller should ask decode_greedy for at once: 1 where decode_greedy
  // returns false (asking ahead would only decode tokens past a stop for nothing), more where the
  // engine picks them itself and a longer run saves host round trips.
  virtual int64_t greedy_run() { return 1; }

  // Calls `observer` after each step of every later run (nullptr: none, the default). The observer
  // must outlive its use; with one set, the cuda engine launches the steps one by one and waits
  // for each.
  virtual void set_step_observer(StepObserver* observer) = 0;

  // Measures the bandwidth of the memory the weights live in, with the engine's own threads or
  // device, now (it takes about a second and a buffer of a few hundred MB).
  virtual MemoryBandwidth measure_memory_bandwidth() = 0;

  // Measures the device's fp32 arithmetic peak in GFLOP/s (an FMA counts 2) with the engine's own
  // threads or device, now (about a second); 0 when the engine cannot tell. `aprc bench
  // --per-kernel` holds compute-bound kernels to it.
  virtual double measure_peak_gflops() { return 0; }

  // The peaks of the device's matrix units in GFLOP/s, by the instruction the kernels that use them
  // run (cuda: bf16 mma.sync m16n8k16 for the Mma prefill tiles, e4m3 mma.sync m16n8k32 for the
  // Fp8Mma ones, sm_89 and newer), measured now (cuda: by the last measure_peak_gflops, which measures
  // them too, when there was one); 0 for each the engine cannot tell. `aprc bench
  // --per-kernel` holds the kernels that run on them to these instead of the fp32 peak.
  struct TensorPeaks {
    double bf16_gflops = 0;
    double fp8_gflops = 0;
  };
  virtual TensorPeaks measure_tensor_peaks() { return {}; }
};

// Opens an engine of `kind` ("cpu" or "cuda") for `plan`. Refuses (Error(BadInput), naming the plan)
// a plan without kernels for that engine, and one this machine cannot run (CPU features it lacks,
// no GPU, no cubin or PTX for the GPU).
std::unique_ptr<Engine> open_engine(std::shared_ptr<const Plan> plan, std::string_view kind,
                                    const EngineOptions& options = {});

// The engine a plan runs on when none is named: cpu if the plan has CPU code, else its first target.
std::string default_engine(const Plan& plan);

}  // namespace aprc
